// scripts/dmarc-policy.csx on the server's typed authentication results, with records on the stub DNS server.

using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.Scripts.Tests;

public sealed class DmarcPolicyScriptTests
{
    [Fact]
    public async Task A_forged_author_whose_domain_says_reject_is_refused_while_built_in_enforcement_is_off()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("dmarc-policy");
        await using var server = await Scripting.StartAsync(folder);
        Assert.False(server.Options.Authentication.Dmarc.Enforce);
        AuthenticationFixture.PublishSender(server);

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@sender.test", ["alice@example.test"], AuthenticationFixture.Plain("ceo@bank.test")),
            550, "5.7.1", "bank.test");
        // The genuine article passes, and the session goes on.
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "bob@sender.test", ["alice@example.test"], AuthenticationFixture.Signed("bob@sender.test")), 250);
        var delivered = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        Assert.DoesNotContain("X-Spam-Flag", delivered);
    }

    [Fact]
    public async Task SPF_failures_without_a_DKIM_pass_are_tagged()
    {
        using var folder = new ScriptFolder();
        folder.CopyShipped("dmarc-policy");
        await using var server = await Scripting.StartAsync(folder);
        server.Dns.AddTxt("strict.test", "v=spf1 ip4:192.0.2.1 -all");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@strict.test", ["alice@example.test"], AuthenticationFixture.Plain("x@strict.test")), 250);
        var delivered = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        Assert.Contains("X-Spam-Flag: YES", delivered);
        Assert.Contains("spf=fail", AuthenticationFixture.HeaderOf(delivered, "Authentication-Results"));
    }
}
