// Maildir delivery: unique names per the spec, byte-exact content after the added fields, nothing left in tmp/.
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using MimeKit;

namespace Mta.Engine.Tests.Delivery;

public sealed class MaildirDeliveryTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Delivers_into_new_with_spec_name_and_byte_exact_content()
    {
        var options = new MtaOptions { DataDirectory = _dir.Path };
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 3, 4, 5, 6, 7, TimeSpan.Zero).AddTicks(1234560));
        var delivery = new MaildirDelivery(new MtaPaths(options), time);
        var body = Encoding.ASCII.GetBytes("Received: from x\r\nSubject: hi\r\n\r\nbody line\r\n.dot\r\n\r\n");

        var path = await delivery.DeliverAsync("alice", new SmtpAddress("Alice", "example.org"), new SmtpAddress("s", "remote.test"),
            new BytesContent(body), Ct);

        var maildir = Path.Combine(new MtaPaths(options).MaildirRoot, "alice");
        Assert.Equal(Path.Combine(maildir, "new"), Path.GetDirectoryName(path));
        var name = Path.GetFileName(path);
        var host = MaildirDelivery.EscapeHostName(Environment.MachineName);
        var m = Regex.Match(name, $@"^(\d+)\.M(\d+)P{Environment.ProcessId}Q\d+\.{Regex.Escape(host)},S=(\d+)$");
        Assert.True(m.Success, name);
        Assert.Equal(time.GetUtcNow().ToUnixTimeSeconds().ToString(), m.Groups[1].Value);
        Assert.Equal("123456", m.Groups[2].Value);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal(bytes.Length.ToString(), m.Groups[3].Value);
        var prefix = "Return-Path: <s@remote.test>\r\nDelivered-To: Alice@example.org\r\n"u8.ToArray();
        Assert.Equal(prefix, bytes[..prefix.Length]);
        Assert.Equal(body, bytes[prefix.Length..]);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(maildir, "tmp")));
        Assert.True(Directory.Exists(Path.Combine(maildir, "cur")));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(maildir));
    }

    [Fact]
    public async Task Null_reverse_path_gives_empty_return_path_and_names_are_unique()
    {
        var options = new MtaOptions { DataDirectory = _dir.Path };
        var delivery = new MaildirDelivery(new MtaPaths(options), new FakeTimeProvider());
        var paths = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
            delivery.DeliverAsync("bob", new SmtpAddress("bob", "example.org"), SmtpAddress.Null, new BytesContent("X: y\r\n\r\n"u8.ToArray()), Ct).AsTask()));
        Assert.Equal(20, paths.Distinct().Count());
        Assert.StartsWith("Return-Path: <>\r\n", File.ReadAllText(paths[0]));
    }

    [Theory]
    [InlineData("host/name:1", "host\\057name\\0721")]
    [InlineData("plain", "plain")]
    public void Host_name_escapes_slash_and_colon(string host, string expected) => Assert.Equal(expected, MaildirDelivery.EscapeHostName(host));

    [Theory]
    [InlineData("../etc")]
    [InlineData("a/b/c")] // DOMAIN/USER is a virtual mailbox; a deeper path is not
    [InlineData("virt.test/..")]
    [InlineData(".hidden")]
    [InlineData("")]
    public async Task Unsafe_user_names_are_refused(string user)
    {
        var options = new MtaOptions { DataDirectory = _dir.Path };
        var delivery = new MaildirDelivery(new MtaPaths(options), TimeProvider.System);
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await delivery.DeliverAsync(user, new SmtpAddress("x", "y"), SmtpAddress.Null, new BytesContent([]), Ct));
    }

    private sealed class BytesContent(byte[] bytes) : IMessageContent
    {
        public long Size => bytes.Length;
        public Stream OpenRead() => new MemoryStream(bytes, writable: false);
        public ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default) => throw new NotSupportedException();
    }
}
