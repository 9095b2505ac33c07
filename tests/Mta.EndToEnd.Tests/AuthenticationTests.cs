// Mail authentication over real SMTP with the stub DNS server: results in Authentication-Results and on the
// transaction, DMARC enforcement and quarantine, forged results removed, outgoing mail signed.
using System.Text;
using MimeKit;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Authentication;
using static Mta.EndToEnd.Tests.Infrastructure.AuthenticationFixture;

namespace Mta.EndToEnd.Tests;

public sealed class AuthenticationTests
{
    [Fact]
    public async Task A_signed_message_from_an_authorised_host_passes_every_check_and_hooks_see_the_results_typed()
    {
        MessageAuthentication? seen = null;
        await using var server = await MtaTestServer.StartAsync(hooks: h => h.Register<DataPostContext>("probe", (ctx, _) =>
        {
            seen = ctx.Transaction.Authentication;
            return ValueTask.FromResult(HookResult.Continue);
        }));
        PublishSender(server);

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "bob@sender.test", ["alice@example.test"], Signed("bob@sender.test")), 250);

        var text = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        var field = HeaderOf(text, "Authentication-Results");
        Assert.StartsWith("mta.test;", field);
        Assert.Matches(@"spf=pass \(ip4:127\.0\.0\.1\) smtp\.helo=client\.test;", field);
        Assert.Matches(@"spf=pass \(ip4:127\.0\.0\.1\) smtp\.mailfrom=bob@sender\.test;", field);
        Assert.Contains("dkim=pass", field);
        Assert.Contains("header.d=sender.test header.s=s1 header.a=rsa-sha256", field);
        Assert.Contains("dmarc=pass", field);
        Assert.Contains("header.from=sender.test", field);
        Assert.Contains("arc=none", field);

        Assert.NotNull(seen);
        Assert.Equal(SpfResult.Pass, seen.MailFrom!.Result);
        Assert.Equal(DkimResult.Pass, Assert.Single(seen.Dkim).Result);
        Assert.Equal(DmarcResult.Pass, seen.Dmarc!.Result);
        Assert.True(seen.Dmarc.DkimAligned);
        Assert.True(seen.DkimPassed("sender.test"));
    }

    [Fact]
    public async Task A_forged_author_with_p_reject_is_recorded_by_default_and_refused_when_enforced()
    {
        await using (var recording = await MtaTestServer.StartAsync())
        {
            PublishSender(recording);
            await using var c = await SmtpAssert.ConnectAsync(recording);
            await SmtpAssert.EhloAsync(c, "client.test");
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@sender.test", ["alice@example.test"], Plain("ceo@bank.test")), 250);
            var field = HeaderOf(SmtpAssert.ReadText((await recording.WaitForMailAsync("alice"))[0]), "Authentication-Results");
            Assert.Matches(@"dmarc=fail \(p=reject dis=reject[^)]*\) header\.from=bank\.test", field);
            Assert.Contains("dkim=none", field);
        }

        await using var enforcing = await MtaTestServer.StartAsync(o => o.Authentication.Dmarc.Enforce = true);
        PublishSender(enforcing);
        await using var e = await SmtpAssert.ConnectAsync(enforcing);
        await SmtpAssert.EhloAsync(e, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(e, "x@sender.test", ["alice@example.test"], Plain("ceo@bank.test")), 550, "5.7.1", "DMARC");
        // The session goes on: the genuine article still passes.
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(e, "bob@sender.test", ["alice@example.test"], Signed("bob@sender.test")), 250);
    }

    [Fact]
    public async Task Quarantine_puts_local_copies_into_the_Junk_folder_and_a_hook_that_accepts_overrides_the_policy()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Authentication.Dmarc.Enforce = true,
            hooks: h => h.Register<DataPostContext>("allow-list", (ctx, _) => ValueTask.FromResult(
                ctx.Transaction.ReversePath.LocalPart == "partner" ? HookResult.Accept() : HookResult.Continue)));
        PublishSender(server, "v=DMARC1; p=quarantine");

        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@sender.test", ["alice@example.test"], Plain("ceo@bank.test")), 250);
        var junk = Path.Combine(server.Paths.MaildirRoot, "alice", QuarantineMark.JunkFolder, "new");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((!Directory.Exists(junk) || Directory.GetFiles(junk).Length == 0) && DateTime.UtcNow < deadline) await Task.Delay(20);
        var quarantined = SmtpAssert.ReadText(Assert.Single(Directory.GetFiles(junk)));
        Assert.Contains("X-Mta-Quarantine: dmarc", quarantined);
        Assert.True(File.Exists(Path.Combine(server.Paths.MaildirRoot, "alice", QuarantineMark.JunkFolder, "maildirfolder")));

        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "partner@sender.test", ["alice@example.test"], Plain("ceo@bank.test")), 250);
        var inbox = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        Assert.DoesNotContain("X-Mta-Quarantine", inbox);
    }

    [Fact]
    public async Task Incoming_results_that_claim_our_authserv_id_are_removed_and_others_are_kept()
    {
        await using var server = await MtaTestServer.StartAsync();
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        var forged = "Authentication-Results: mta.test;\r\n\tdkim=pass header.d=bank.test\r\n"
            + "Authentication-Results: other.test; spf=pass smtp.mailfrom=x@other.test\r\n"
            + "X-Mta-Quarantine: none\r\n" + Plain("ceo@bank.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@remote.test", ["alice@example.test"], forged), 250);

        var text = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        Assert.DoesNotContain("header.d=bank.test", text);
        Assert.DoesNotContain("X-Mta-Quarantine", text);
        Assert.Contains("Authentication-Results: other.test; spf=pass", text);
        Assert.Single(HeadersOf(text, "Authentication-Results"), v => v.StartsWith("mta.test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mail_from_trusted_clients_is_not_verified()
    {
        await using var server = await MtaTestServer.StartAsync(o => o.Relay.TrustedNetworks = ["127.0.0.0/8"]);
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c, "client.test");
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@remote.test", ["alice@example.test"], Plain("me@example.test")), 250);
        var text = SmtpAssert.ReadText((await server.WaitForMailAsync("alice"))[0]);
        Assert.DoesNotContain("Authentication-Results", text);
        Assert.Equal(0, server.Dns.Queries.Count(q => q.Type == "TXT"));
    }

    [Fact]
    public async Task Mail_from_a_trusted_client_is_signed_with_every_signing_selector_and_verifies_against_the_published_keys()
    {
        var keys = Path.Combine(Path.GetTempPath(), "mta-dkim-" + Guid.NewGuid().ToString("n")[..8]);
        var rsa = Mta.Engine.Authentication.Signing.DkimKeyGenerator.GenerateToFile(Path.Combine(keys, "rsa.key"), Mta.Engine.Configuration.DkimKeyAlgorithm.Rsa);
        var ed = Mta.Engine.Authentication.Signing.DkimKeyGenerator.GenerateToFile(Path.Combine(keys, "ed.key"), Mta.Engine.Configuration.DkimKeyAlgorithm.Ed25519);
        var old = Mta.Engine.Authentication.Signing.DkimKeyGenerator.GenerateToFile(Path.Combine(keys, "old.key"), Mta.Engine.Configuration.DkimKeyAlgorithm.Rsa);
        try
        {
            await using var server = await MtaTestServer.StartAsync(o =>
            {
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                o.Authentication.Signing.Domains["example.test"] = new Mta.Engine.Configuration.DkimDomainOptions
                {
                    Selectors =
                    [
                        new() { Selector = "old", KeyFile = Path.Combine(keys, "old.key"), Sign = false },
                        new() { Selector = "r1", KeyFile = Path.Combine(keys, "rsa.key") },
                        new() { Selector = "e1", Algorithm = Mta.Engine.Configuration.DkimKeyAlgorithm.Ed25519, KeyFile = Path.Combine(keys, "ed.key") },
                    ],
                };
            });
            server.Dns.AddTxt("r1._domainkey.example.test", rsa.PublicKeyRecord);
            server.Dns.AddTxt("e1._domainkey.example.test", ed.PublicKeyRecord);

            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c, "client.test");
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "me@example.test", ["alice@example.test"], Plain("Me <me@example.test>")), 250);
            // Another domain's mail from the same trusted client has no key here and goes unsigned.
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "x@remote.test", ["bob@example.test"], Plain("x@remote.test")), 250);

            var delivered = SmtpAssert.ReadBytes((await server.WaitForMailAsync("alice"))[0]);
            var text = Encoding.ASCII.GetString(delivered);
            var signatures = HeadersOf(text, "DKIM-Signature").ToList();
            Assert.Equal(2, signatures.Count);
            Assert.Contains(signatures, s => s.Contains("a=rsa-sha256") && s.Contains("s=r1") && s.Contains("d=example.test"));
            Assert.Contains(signatures, s => s.Contains("a=ed25519-sha256") && s.Contains("s=e1"));
            Assert.DoesNotContain(signatures, s => s.Contains("s=old"));
            Assert.DoesNotContain("DKIM-Signature", SmtpAssert.ReadText((await server.WaitForMailAsync("bob"))[0]));

            // The copy as delivered (Return-Path and Delivered-To added by local delivery are not signed) verifies.
            var verifier = new Mta.Engine.Authentication.Dkim.DkimVerification(
                server.Services.GetRequiredService<Mta.Abstractions.IDnsResolver>(), TimeProvider.System);
            var results = await verifier.VerifyAsync(MimeMessage.Load(new MemoryStream(delivered)), TestContext.Current.CancellationToken);
            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.Equal(DkimResult.Pass, r.Result));
        }
        finally
        {
            MtaTestServer.DeleteQuietly(keys);
        }
    }

    [Fact]
    public async Task A_message_large_enough_to_go_to_disk_is_signed_from_its_file_and_verifies()
    {
        var keys = Path.Combine(Path.GetTempPath(), "mta-dkim-" + Guid.NewGuid().ToString("n")[..8]);
        var rsa = Mta.Engine.Authentication.Signing.DkimKeyGenerator.GenerateToFile(Path.Combine(keys, "rsa.key"), Mta.Engine.Configuration.DkimKeyAlgorithm.Rsa);
        try
        {
            await using var server = await MtaTestServer.StartAsync(o =>
            {
                o.Relay.TrustedNetworks = ["127.0.0.0/8"];
                o.Authentication.Signing.Domains["example.test"] = new Mta.Engine.Configuration.DkimDomainOptions
                {
                    Selectors = [new() { Selector = "r1", KeyFile = Path.Combine(keys, "rsa.key") }],
                };
            });
            server.Dns.AddTxt("r1._domainkey.example.test", rsa.PublicKeyRecord);
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c, "client.test");
            // Past Limits:Data:MemoryThreshold (256 KiB): the body is hashed from the spill file.
            var large = Plain("Me <me@example.test>") + string.Concat(Enumerable.Range(0, 6000).Select(i => $"line {i:D6} {new string('z', 70)}\r\n"));
            SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "me@example.test", ["alice@example.test"], large), 250);

            var delivered = SmtpAssert.ReadBytes((await server.WaitForMailAsync("alice"))[0]);
            Assert.True(delivered.Length > 400_000);
            Assert.Single(HeadersOf(Encoding.ASCII.GetString(delivered), "DKIM-Signature"));
            var verifier = new Mta.Engine.Authentication.Dkim.DkimVerification(
                server.Services.GetRequiredService<Mta.Abstractions.IDnsResolver>(), TimeProvider.System);
            var result = Assert.Single(await verifier.VerifyAsync(MimeMessage.Load(new MemoryStream(delivered)), TestContext.Current.CancellationToken));
            Assert.Equal(DkimResult.Pass, result.Result);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(keys);
        }
    }
}
