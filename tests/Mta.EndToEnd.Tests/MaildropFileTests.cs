// The maildrop file: what sendmail writes is what the pickup reads, and a file not in the format is refused.
using System.Text;
using Mta.Engine.Pickup;

namespace Mta.EndToEnd.Tests;

public sealed class MaildropFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mta-maildrop-" + Guid.NewGuid().ToString("n")[..12]);

    public MaildropFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly byte[] Message = Encoding.UTF8.GetBytes("Subject: é\r\n\r\nline\r\n.\r\n\r\n");

    [Fact]
    public void Round_trip_through_a_file()
    {
        var envelope = new MaildropEnvelope("alice@example.org", ["bob@example.org", "carol@example.org"], "HDRS", "id 1", "SUCCESS,DELAY");
        var path = MaildropFile.Write(_dir, envelope, Message);
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_dir).Select(Path.GetFileName));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(path));
        Assert.True(MaildropFile.TryParse(File.ReadAllBytes(path), out var read, out var message, out var error), error);
        Assert.Equal(envelope.Sender, read!.Sender);
        Assert.Equal(envelope.Recipients, read.Recipients);
        Assert.Equal(("HDRS", "id 1", "SUCCESS,DELAY"), (read.Ret, read.EnvelopeId, read.Notify));
        Assert.Equal(Message, message.ToArray());
    }

    [Fact]
    public void The_null_sender_and_no_sender_differ()
    {
        Assert.True(MaildropFile.TryParse(MaildropFile.Format(new MaildropEnvelope("", ["b@x.test"]), Message), out var nullSender, out _, out _));
        Assert.Equal("", nullSender!.Sender);
        Assert.True(MaildropFile.TryParse(MaildropFile.Format(new MaildropEnvelope(null, ["b@x.test"]), Message), out var none, out _, out _));
        Assert.Null(none!.Sender);
    }

    [Fact]
    public void Names_are_unguessable_and_distinct()
    {
        var names = Enumerable.Range(0, 100).Select(_ => MaildropFile.NewName()).ToHashSet();
        Assert.Equal(100, names.Count);
        Assert.All(names, n => Assert.Matches("^[0-9]{14}\\.[0-9a-f]{32}$", n));
    }

    [Fact]
    public void A_field_with_a_line_break_cannot_be_written() =>
        Assert.Throws<ArgumentException>(() => MaildropFile.Format(new MaildropEnvelope(null, ["a@x.test\nrecipient: evil@x.test"]), Message));

    [Theory]
    [InlineData("not a maildrop file", "garbage\n\nbody")]
    [InlineData("no recipient", "MTA-MAILDROP 1\nsize: 4\n\nbody")]
    [InlineData("the envelope says 5", "MTA-MAILDROP 1\nrecipient: a@x.test\nsize: 5\n\nbody")]
    [InlineData("the envelope says 3", "MTA-MAILDROP 1\nrecipient: a@x.test\nsize: 3\n\nbody")]
    [InlineData("unknown, repeated or empty", "MTA-MAILDROP 1\nuid: 0\nrecipient: a@x.test\nsize: 4\n\nbody")]
    [InlineData("unknown, repeated or empty", "MTA-MAILDROP 1\nsender: a@x.test\nsender: b@x.test\nrecipient: a@x.test\nsize: 4\n\nbody")]
    [InlineData("does not end", "MTA-MAILDROP 1\nrecipient: a@x.test\nsize: 4")]
    [InlineData("no size", "MTA-MAILDROP 1\nrecipient: a@x.test\n\nbody")]
    public void Files_not_in_the_format_are_refused(string reason, string file)
    {
        Assert.False(MaildropFile.TryParse(Encoding.UTF8.GetBytes(file), out _, out _, out var error));
        Assert.Contains(reason, error);
    }
}
