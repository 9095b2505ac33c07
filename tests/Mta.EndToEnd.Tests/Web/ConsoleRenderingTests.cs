// The console's building blocks without a server: escaping by default, the header reader that never reads a body.
using System.Text;
using Mta.Web.Console;

namespace Mta.EndToEnd.Tests.Web;

public sealed class ConsoleRenderingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void Every_value_in_markup_is_encoded_and_only_markup_is_not()
    {
        var hostile = "<img src=x onerror=alert(1)> \"' &";
        var html = Html.Of($"<td title=\"{hostile}\">{hostile}{Html.Raw("<b>ok</b>")}{42}</td>").ToString();
        Assert.Equal("<td title=\"&lt;img src=x onerror=alert(1)&gt; &quot;&#x27; &amp;\">&lt;img src=x onerror=alert(1)&gt; &quot;&#x27; &amp;<b>ok</b>42</td>", html);
        Assert.Equal("?q=a%26b%3Dc&state=held", Html.Query(("q", "a&b=c"), ("state", "held"), ("page", null)));
    }

    [Fact]
    public async Task The_header_reader_stops_at_the_blank_line_and_never_reads_the_body()
    {
        var head = "Received: from a\r\n\tby b\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nFrom: <x@example.test>\r\n\r\n";
        var body = new byte[20 * 1024 * 1024];
        await using var stream = new CountingStream(new MemoryStream([.. Encoding.ASCII.GetBytes(head), .. body]));
        var section = await MessageHeaders.ReadAsync(stream, Ct);
        Assert.False(section.Truncated);
        Assert.Equal(["Received", "Subject", "From"], section.Fields.Select(f => f.Name));
        Assert.Equal("from a\tby b", section.Fields[0].Value);
        Assert.Equal("café", section.Fields[1].Value);
        Assert.True(stream.BytesRead <= 8192, $"read {stream.BytesRead} bytes");
    }

    [Fact]
    public async Task A_header_section_past_the_limit_is_cut_and_said_so()
    {
        var text = new StringBuilder();
        for (var i = 0; text.Length < MessageHeaders.MaxBytes * 2; i++) text.Append($"X-Filler-{i}: {new string('a', 200)}\r\n");
        await using var stream = new CountingStream(new MemoryStream(Encoding.ASCII.GetBytes(text + "\r\nbody\r\n")));
        var section = await MessageHeaders.ReadAsync(stream, Ct);
        Assert.True(section.Truncated);
        Assert.NotEmpty(section.Fields);
        Assert.Equal(MessageHeaders.MaxBytes, stream.BytesRead);
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long BytesRead { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) { var n = inner.Read(buffer, offset, count); BytesRead += n; return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            BytesRead += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
