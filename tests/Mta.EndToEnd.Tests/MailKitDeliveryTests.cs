// Well-formed sessions from MailKit end in the right Maildir with content, trace field and UTF-8 intact.
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class MailKitDeliveryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<SmtpClient> ConnectAsync(MtaTestServer server)
    {
        var client = new SmtpClient { Timeout = 15_000, LocalDomain = "mailkit.test" };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, Ct);
        return client;
    }

    private static MimeMessage NewMessage(string subject, string body, params string[] to)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("sender@remote.test"));
        foreach (var t in to) m.To.Add(MailboxAddress.Parse(t));
        m.Subject = subject;
        m.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId("mailkit.test");
        m.Body = new TextPart("plain") { Text = body };
        return m;
    }

    private static async Task<MimeMessage> LoadAsync(string path) => await MimeMessage.LoadAsync(path, Ct);

    [Fact]
    public async Task Message_is_delivered_to_the_recipients_Maildir_with_a_Received_field()
    {
        await using var server = await MtaTestServer.StartAsync();
        var sent = NewMessage("Hello Alice", "First line\r\nSecond line\r\n", "alice@example.test");
        string response;
        using (var client = await ConnectAsync(server))
        {
            response = await client.SendAsync(sent, Ct);
            await client.DisconnectAsync(true, Ct);
        }
        var queueId = SmtpAssert.QueueIdOf(response);

        var files = await server.WaitForMailAsync("alice");
        var file = Assert.Single(files);
        var got = await LoadAsync(file);
        Assert.Equal("Hello Alice", got.Subject);
        Assert.Equal(sent.MessageId, got.MessageId);
        Assert.Equal("First line\nSecond line\n", got.TextBody.Replace("\r\n", "\n"));

        var received = got.Headers.Where(h => h.Id == HeaderId.Received).Select(h => h.Value).ToList();
        var ours = Assert.Single(received);
        Assert.Contains("by mta.test", ours);
        Assert.Contains("id " + queueId, ours);
        Assert.Contains("for <alice@example.test>", ours);
        Assert.Contains("from mailkit.test", ours);
        Assert.Contains("[127.0.0.1]", ours);
        Assert.Contains("with ESMTP", ours);
        // The trace field ends with a date (RFC 5322 date-time after the semicolon).
        Assert.True(MimeKit.Utils.DateUtils.TryParse(ours[(ours.LastIndexOf(';') + 1)..].Trim(), out var date), "no date in Received: " + ours);
        Assert.True(Math.Abs((DateTimeOffset.UtcNow - date).TotalMinutes) < 5, "implausible date in Received: " + ours);

        // Return-Path comes first in the delivered copy, as local delivery writes it.
        Assert.Equal("<sender@remote.test>", got.Headers[HeaderId.ReturnPath]);
    }

    [Fact]
    public async Task Several_recipients_in_one_transaction_get_one_copy_each()
    {
        await using var server = await MtaTestServer.StartAsync();
        var sent = NewMessage("To three", "Hi all\r\n", "alice@example.test", "bob@example.test", "carol@localhost");
        using (var client = await ConnectAsync(server))
        {
            await client.SendAsync(sent, Ct);
            await client.DisconnectAsync(true, Ct);
        }
        foreach (var user in new[] { "alice", "bob", "carol" })
        {
            var file = Assert.Single(await server.WaitForMailAsync(user));
            var got = await LoadAsync(file);
            Assert.Equal("To three", got.Subject);
            var received = got.Headers[HeaderId.Received];
            // More than one recipient: the trace field must not disclose the recipient list.
            Assert.DoesNotContain("for <", received);
            Assert.Equal(user + "@" + (user == "carol" ? "localhost" : "example.test"), got.Headers["Delivered-To"]);
        }
        Assert.Equal(3, SmtpAssert.CountAllDelivered(server));
    }

    [Fact]
    public async Task Eight_bit_UTF8_body_survives_byte_for_byte()
    {
        await using var server = await MtaTestServer.StartAsync();
        const string text = "Grüße aus Köln — ¿qué tal? 日本語のテキスト 🚀\r\nZweite Zeile: Ærø\r\n";
        var sent = NewMessage("8bit", text, "alice@example.test");
        var part = (TextPart)sent.Body;
        part.SetText("utf-8", text);
        part.ContentTransferEncoding = ContentEncoding.EightBit;
        using (var client = await ConnectAsync(server))
        {
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime));
            await client.SendAsync(sent, Ct);
            await client.DisconnectAsync(true, Ct);
        }
        var file = Assert.Single(await server.WaitForMailAsync("alice"));
        var raw = SmtpAssert.ReadBytes(file);
        Assert.True(SmtpAssert.IndexOf(raw, System.Text.Encoding.UTF8.GetBytes(text)) >= 0, "raw UTF-8 body not found in the delivered file");
        var got = await LoadAsync(file);
        // MimeKit's TextBody gives the decoded text with its own line-ending convention; compare the characters.
        Assert.Equal(text.Replace("\r\n", "\n"), got.TextBody.Replace("\r\n", "\n"));
    }

    [Fact]
    public async Task SMTPUTF8_address_is_accepted_and_delivered_to_the_lower_cased_local_part()
    {
        await using var server = await MtaTestServer.StartAsync();
        var sent = new MimeMessage();
        sent.From.Add(new MailboxAddress("Renée", "renée@remote.test"));
        sent.To.Add(new MailboxAddress("José", "Jösé@example.test"));
        sent.Subject = "Olá, mundo";
        sent.Body = new TextPart("plain") { Text = "Ünïcödé everywhere\r\n" };
        string response;
        using (var client = await ConnectAsync(server))
        {
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.UTF8), "server does not advertise SMTPUTF8");
            response = await client.SendAsync(FormatOptions.Default.Clone(), sent, cancellationToken: Ct);
            await client.DisconnectAsync(true, Ct);
        }
        Assert.Contains("queued as", response);
        var file = Assert.Single(await server.WaitForMailAsync("jösé"));
        var got = await LoadAsync(file);
        Assert.Equal("Olá, mundo", got.Subject);
        Assert.Equal("Ünïcödé everywhere\n", got.TextBody.Replace("\r\n", "\n"));
        var received = got.Headers[HeaderId.Received];
        Assert.Contains("with UTF8SMTP", received);
        Assert.Contains("for <Jösé@example.test>", received);
    }
}
