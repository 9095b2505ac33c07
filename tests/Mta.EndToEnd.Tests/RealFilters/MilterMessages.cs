// What the real-filter tests share: Mta started with real milters on its listener, and messages built as a mail client builds them.
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.RealFilters;

public static class MilterMessages
{
    /// <summary>A plain-text message with the fields a mail client writes (Date, Message-ID), so that content filters
    /// score it as ordinary mail.</summary>
    public static MimeMessage New(string from, string to, string subject, string body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Date = DateTimeOffset.Now;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(MailboxAddress.Parse(from).Domain);
        message.Body = new TextPart("plain") { Text = body + "\r\n" };
        return message;
    }

    /// <summary>An in-process Mta whose one listener runs <paramref name="milters"/> in the order given, each defined
    /// with its address and default action and timeouts short enough for a test.</summary>
    public static Task<MtaTestServer> StartMtaAsync(params (string Name, string Address, MilterDefaultAction DefaultAction)[] milters) =>
        MtaTestServer.StartAsync(o =>
        {
            foreach (var (name, address, action) in milters)
            {
                o.Milters.Definitions[name] = new MilterDefinition
                {
                    Address = address,
                    DefaultAction = action,
                    ConnectTimeout = TimeSpan.FromSeconds(5),
                    CommandTimeout = TimeSpan.FromSeconds(10),
                    EndOfMessageTimeout = TimeSpan.FromSeconds(20),
                };
            }
            o.Listeners[0].Milters = [.. milters.Select(m => m.Name)];
        });

    /// <summary>A MailKit client connected to the server's listener.</summary>
    public static async Task<SmtpClient> ConnectAsync(MtaTestServer server, CancellationToken ct)
    {
        var client = new SmtpClient { Timeout = 30_000, LocalDomain = "client.test" };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, ct);
        return client;
    }
}
