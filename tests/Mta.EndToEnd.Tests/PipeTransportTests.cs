// A domain routed to a pipe transport, over SMTP: accepted from an untrusted client, delivered through the command.
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;

namespace Mta.EndToEnd.Tests;

public sealed class PipeTransportTests : IDisposable
{
    private readonly string _drop = Path.Combine(Path.GetTempPath(), "mta-e2e-pipe-" + Guid.NewGuid().ToString("n")[..12]);

    public PipeTransportTests()
    {
        Directory.CreateDirectory(_drop);
        // As root the command runs as nobody, which must be able to write its copy here.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_drop, (UnixFileMode)0x1FF);
    }

    public void Dispose() => MtaTestServer.DeleteQuietly(_drop);

    [Fact]
    public async Task The_mta_process_reads_pipe_transports_from_its_config_file()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("pipe transports need /bin/sh and util-linux");
        var data = Path.Combine(_drop, "data");
        var config = MtaProcess.WriteConfig(data, extra: new Dictionary<string, object?>
        {
            ["Transports"] = new
            {
                CommandTimeLimit = "00:00:30",
                Pipes = new Dictionary<string, object>
                {
                    ["drop"] = new
                    {
                        Command = $"cat > {_drop}/copy.tmp && mv {_drop}/copy.tmp {_drop}/copy-$QUEUE_ID",
                        User = UnixAccounts.IsEffectiveRoot ? "nobody" : Environment.UserName,
                        Domains = new[] { "drop.example" },
                    },
                },
            },
        });
        await using var server = MtaProcess.Start("run", "--config", config);
        var port = await server.WaitForListenerAsync();
        await using var client = await RawSmtpClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
        SmtpAssert.Reply(await client.CommandAsync("EHLO client.test"), 250);
        var reply = await SmtpAssert.TransactionAsync(client, "sender@remote.test", ["someone@drop.example"], "Subject: process\r\n\r\nbody\r\n");
        Assert.Equal(250, reply.Code);

        var deadline = DateTime.UtcNow.AddSeconds(20);
        string[] copies;
        while ((copies = Directory.GetFiles(_drop, "copy-*")).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the command never wrote its copy:\n" + server.Output);
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        Assert.Contains("Delivered-To: someone@drop.example", File.ReadAllText(Assert.Single(copies)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mail_for_a_transport_domain_is_delivered_through_the_command()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("pipe transports need /bin/sh and util-linux");
        await using var server = await MtaTestServer.StartAsync(o =>
        {
            o.Transports.Pipes["archive"] = new PipeTransportOptions
            {
                // One file per recipient, named after the detail-free local part, holding the envelope and the message.
                Command = $"{{ echo \"sender=$SENDER recipient=$RECIPIENT client=$CLIENT_ADDRESS helo=$CLIENT_HELO uid=$(id -u)\"; cat; }} > {_drop}/$LOCAL.tmp && mv {_drop}/$LOCAL.tmp {_drop}/$LOCAL",
                User = UnixAccounts.IsEffectiveRoot ? "nobody" : Environment.UserName,
                TimeLimit = TimeSpan.FromSeconds(30),
                Domains = ["archive.example"],
            };
        });
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        // Not a local domain, not a trusted client: accepted because the transport is this domain's final destination.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<anything@archive.example>"), 250, "2.1.5");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<someone@elsewhere.test>"), 554, "5.7.1");
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: through a pipe\r\n\r\nFrom the body\r\n."), 250);

        var copy = Path.Combine(_drop, "anything");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!File.Exists(copy))
        {
            Assert.True(DateTime.UtcNow < deadline, "the command never wrote its copy");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        var lines = File.ReadAllLines(copy);
        var uid = UnixAccounts.IsEffectiveRoot ? "65534" : UnixAccounts.EffectiveUid.ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"sender=sender@remote.test recipient=anything@archive.example client=127.0.0.1 helo=client.test uid={uid}", lines[0]);
        Assert.Equal("Return-Path: <sender@remote.test>", lines[1]);
        Assert.Equal("Delivered-To: anything@archive.example", lines[2]);
        Assert.Contains("Subject: through a pipe", lines);
        Assert.Equal("From the body", lines[^1]);
    }
}
