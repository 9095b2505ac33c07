// scripts/dnsbl.csx against blocklist zones served by the stub DNS server: threshold, weights, postmaster, exemptions.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class DnsblScriptTests
{
    // The test client connects from 127.0.0.1, so its reversed name is 1.0.0.127.
    private const string Reversed = "1.0.0.127";

    [Fact]
    public async Task A_client_listed_on_enough_zones_is_refused_at_RCPT_with_the_zones_named()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("dnsbl");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("dnsbl:Zones:0", "heavy.bl.test=2"), ("dnsbl:Zones:1", "light.bl.test"), ("dnsbl:Zones:2", "clean.bl.test"),
            ("dnsbl:Threshold", "3")));
        server.Dns.AddA($"{Reversed}.heavy.bl.test", "127.0.0.2");
        server.Dns.AddA($"{Reversed}.light.bl.test", "127.0.0.4");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        var refused = await c.CommandAsync("RCPT TO:<alice@example.test>");
        SmtpAssert.Reply(refused, 554, "5.7.1", "blocked using");
        Assert.Contains("heavy.bl.test", refused.Text);
        Assert.Contains("light.bl.test", refused.Text);
        Assert.DoesNotContain("clean.bl.test", refused.Text);
        // Postmaster stays reachable, and the session goes on.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<postmaster@example.test>"), 250);
        // One lookup per zone for the whole session, not one per recipient.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 554, "5.7.1");
        Assert.Equal(1, server.Dns.Queries.Count(q => q.Name == $"{Reversed}.heavy.bl.test"));
    }

    [Fact]
    public async Task Below_the_threshold_or_with_error_codes_and_failing_zones_mail_passes()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("dnsbl");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(
            ("dnsbl:Zones:0", "light.bl.test"), ("dnsbl:Zones:1", "refusing.bl.test"), ("dnsbl:Zones:2", "broken.bl.test"),
            ("dnsbl:Threshold", "2")));
        server.Dns.AddA($"{Reversed}.light.bl.test", "127.0.0.2");
        // 127.255.255.254 is a "query refused" code, not a listing; a SERVFAIL zone counts as not listed.
        server.Dns.AddA($"{Reversed}.refusing.bl.test", "127.255.255.254");
        server.Dns.SetServFail($"{Reversed}.broken.bl.test");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
    }

    [Fact]
    public async Task Trusted_clients_are_not_looked_up()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("dnsbl");
        await using var server = await Scripting.StartAsync(folder, Scripting.Settings(("dnsbl:Zones:0", "heavy.bl.test")),
            configure: o => o.Relay.TrustedNetworks = ["127.0.0.0/8"]);
        server.Dns.AddA($"{Reversed}.heavy.bl.test", "127.0.0.2");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 250);
        Assert.DoesNotContain(server.Dns.Queries, q => q.Name.EndsWith("bl.test", StringComparison.Ordinal));
    }
}
