// Envelopes and messages for spool and queue tests.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Spool;

internal static class SpoolTestData
{
    public static MtaOptions Options(string dataDirectory, long segmentSize = 64L * 1024 * 1024) => new()
    {
        DataDirectory = dataDirectory,
        LocalDomains = ["example.org"],
        Queue = { SegmentSize = segmentSize },
    };

    public static SegmentSpool OpenSpool(MtaOptions options) => new(options, new MtaPaths(options), NullLogger<SegmentSpool>.Instance);

    public static SpoolEnvelope Envelope(DateTimeOffset? receivedAt = null, params string[] recipients) =>
        EnvelopeFrom(new SmtpAddress("sender", "remote.test"), receivedAt, recipients);

    public static SpoolEnvelope EnvelopeFrom(SmtpAddress sender, DateTimeOffset? receivedAt = null, params string[] recipients)
    {
        if (recipients.Length == 0) recipients = ["alice@example.org"];
        return new SpoolEnvelope(QueueIds.Next(), TransactionKind.Mail, receivedAt ?? new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero),
            sender,
            new Dictionary<string, string?> { ["SIZE"] = "123", ["BODY"] = "8BITMIME", ["SMTPUTF8"] = null },
            recipients.Select(Recipient).ToArray(), "192.0.2.7", "client.remote.test", null);
    }

    public static EnvelopeRecipient Recipient(string address)
    {
        var at = address.LastIndexOf('@');
        return new EnvelopeRecipient(at < 0 ? new SmtpAddress(address, "") : new SmtpAddress(address[..at], address[(at + 1)..]));
    }

    public static byte[] Message(string subject, int bodySize = 100) =>
        Encoding.ASCII.GetBytes($"From: sender@remote.test\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\r\n{new string('x', bodySize)}\r\n");

    public static ReadOnlySequence<byte> Seq(byte[] bytes) => new(bytes);

    public static byte[] ReadAll(Stream stream)
    {
        using (stream)
        {
            var ms = new MemoryStream();
            stream.CopyTo(ms);
            return ms.ToArray();
        }
    }
}
