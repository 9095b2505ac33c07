// Interoperability of Mta's BDAT (RFC 3030) with a real Postfix smtpd: several chunks, body byte for byte, BDAT seen in Postfix's log.
using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests;

public sealed partial class PostfixChunkingTests(PostfixFixture fixture) : IClassFixture<PostfixFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Mta relaying pf.test to the fixture's Postfix; deferrals and bounces are kept for failure messages.</summary>
    private static Task<MtaTestServer> StartRelayingMtaAsync(PostfixInstance postfix, ConcurrentQueue<string> events, bool useChunking) =>
        MtaTestServer.StartAsync(
            o =>
            {
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                o.Relay.Routes["pf.test"] = new NextHopOptions
                {
                    Host = "[127.0.0.1]", Port = postfix.SmtpPort, Tls = OutboundTlsPolicy.None, UseChunking = useChunking,
                };
                o.Relay.Resilience.ConnectRetryDelay = TimeSpan.FromMilliseconds(200);
                // No idle connection kept: Postfix logs its command counts (bdat=N) when the session ends.
                o.Relay.Resilience.ConnectionCacheTime = TimeSpan.Zero;
            },
            r =>
            {
                r.Register<DeferredContext>("observe-deferred", (ctx, _) =>
                {
                    events.Enqueue($"deferred <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
                r.Register<BouncedContext>("observe-bounced", (ctx, _) =>
                {
                    events.Enqueue($"bounced <{ctx.Recipient.Address}>: {ctx.Reason}");
                    return ValueTask.FromResult(HookResult.Continue);
                });
            });

    /// <summary>A body of about 700 KiB (three BDAT chunks): lines that start with dots, a lone dot, 8-bit UTF-8, and
    /// lines of every length up to 200 octets.</summary>
    private static string LargeBody()
    {
        var sb = new StringBuilder(".leading dot\r\n..two leading dots\r\n.\r\nGrüße aus Köln — 日本語 🚀\r\n");
        for (var i = 0; sb.Length < 700_000; i++)
            sb.Append(i % 5 == 0 ? "." : "").Append("line ").Append(i).Append(' ').Append((char)('a' + i % 26), i % 200).Append("\r\n");
        return sb.Append("last line\r\n").ToString();
    }

    private static async Task SendAsync(MtaTestServer mta, string to, string subject, string body)
    {
        await using var c = await SmtpAssert.ConnectAsync(mta);
        await SmtpAssert.EhloAsync(c);
        var message = $"From: <alice@localhost>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n" +
                      "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body;
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@localhost", [to], message.Replace("\r\n.", "\r\n..", StringComparison.Ordinal)),
            250, "2.0.0", "queued as");
    }

    /// <summary>The body of a Maildir file: after the first empty line, as Postfix wrote it (LF line ends).</summary>
    private static string BodyOf(string file)
    {
        var text = Encoding.UTF8.GetString(File.ReadAllBytes(file));
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        Assert.True(split >= 0, "no header/body separator in " + file);
        return text[(split + 2)..];
    }

    /// <summary>Waits (bounded) for smtpd's "disconnect from" line of a session that carried a message, with its command counts.</summary>
    private static async Task<string> DisconnectLineAsync(PostfixInstance postfix, string counter)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (File.Exists(postfix.LogFile))
            {
                var line = File.ReadLines(postfix.LogFile).LastOrDefault(l => l.Contains("disconnect from", StringComparison.Ordinal)
                                                                           && l.Contains(" " + counter + "=", StringComparison.Ordinal));
                if (line is not null) return line;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no smtpd disconnect line with {counter}= in the Postfix log:\n{postfix.LogTail(30)}");
            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task Mta_relays_to_Postfix_over_bdat_in_several_chunks_with_the_body_intact()
    {
        var postfix = fixture.Require();
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartRelayingMtaAsync(postfix, events, useChunking: true);
        var body = LargeBody();
        await SendAsync(mta, "bob@pf.test", "Mta to Postfix over BDAT", body);

        string file;
        try { file = Assert.Single(await postfix.WaitForMailAsync("bob", 1, DeliveryTimeout, Ct)); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}\nMta events: {string.Join("; ", events)}", e); }

        // Postfix's Maildir files end lines with LF; otherwise the body is what Mta accepted, octet for octet (no
        // dot left stuffed, none lost).
        Assert.Equal(body.Replace("\r\n", "\n", StringComparison.Ordinal), BodyOf(file));

        // smtpd counts the commands of the session: BDAT, several of them, and no DATA.
        var line = await DisconnectLineAsync(postfix, "bdat");
        var bdat = int.Parse(BdatCount().Match(line).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(bdat >= 3, "expected at least three BDAT chunks: " + line);
        Assert.DoesNotContain(" data=", line, StringComparison.Ordinal);
        Assert.Contains(" rcpt=1", line, StringComparison.Ordinal);
        Assert.Empty(events);
    }

    [Fact]
    public async Task With_chunking_turned_off_Mta_relays_to_Postfix_with_data()
    {
        var postfix = fixture.Require();
        var events = new ConcurrentQueue<string>();
        await using var mta = await StartRelayingMtaAsync(postfix, events, useChunking: false);
        var body = ".dot\r\nplain body\r\n";
        await SendAsync(mta, "alice@pf.test", "Mta to Postfix over DATA", body);

        string file;
        try { file = Assert.Single(await postfix.WaitForMailAsync("alice", 1, DeliveryTimeout, Ct)); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}\nMta events: {string.Join("; ", events)}", e); }
        Assert.Equal(body.Replace("\r\n", "\n", StringComparison.Ordinal), BodyOf(file));

        var line = await DisconnectLineAsync(postfix, "data");
        Assert.DoesNotContain(" bdat=", line, StringComparison.Ordinal);
    }

    [GeneratedRegex(@" bdat=(\d+)")]
    private static partial Regex BdatCount();
}
