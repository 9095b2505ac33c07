// List mail leaves sealed (ARC) and signed (DKIM) by the list's domain, so receivers that check DMARC can still trust it.
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Authentication.Arc;
using Mta.Engine.Authentication.Dkim;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;
using Mta.MailingLists.Tests.Infrastructure;

namespace Mta.MailingLists.Tests;

public sealed class ArcSealingTests
{
    [Fact]
    public async Task A_list_expansion_carries_an_ARC_set_that_verifies_and_breaks_when_the_message_is_tampered_with()
    {
        var keys = Path.Combine(Path.GetTempPath(), "mta-listkey-" + Guid.NewGuid().ToString("n")[..8]);
        var listKey = DkimKeyGenerator.GenerateToFile(Path.Combine(keys, "lists.key"), DkimKeyAlgorithm.Rsa);
        try
        {
            await using var server = await MtaTestServer.StartAsync(o =>
            {
                o.Plugins["lists"] = new PluginOptions
                {
                    Path = PluginBuild.Directory,
                    Settings = new ConfigurationBuilder()
                        .AddInMemoryCollection([new("Settings:Lists:dev@example.test:Members:0", "alice@example.test")])
                        .Build().GetSection("Settings"),
                };
                o.Scripts.Enabled = false;
                o.Authentication.Signing.Domains["example.test"] = new DkimDomainOptions
                {
                    Selectors = [new() { Selector = "lists", KeyFile = Path.Combine(keys, "lists.key") }],
                };
            });
            AuthenticationFixture.PublishSender(server);
            server.Dns.AddTxt("lists._domainkey.example.test", listKey.PublicKeyRecord);

            await using (var c = await SmtpAssert.ConnectAsync(server))
            {
                await SmtpAssert.EhloAsync(c, "client.test");
                SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "bob@sender.test", ["dev@example.test"],
                    AuthenticationFixture.Signed("bob@sender.test", "to the list")), 250);
            }
            var copy = SmtpAssert.ReadBytes((await server.WaitForMailAsync("alice"))[0]);
            var text = Encoding.ASCII.GetString(copy);

            var seal = AuthenticationFixture.HeaderOf(text, "ARC-Seal");
            Assert.Contains("i=1", seal);
            Assert.Contains("cv=none", seal);
            Assert.Contains("d=example.test", seal);
            // The ARC-Authentication-Results record what this server found when the author's mail arrived.
            var aar = AuthenticationFixture.HeaderOf(text, "ARC-Authentication-Results");
            Assert.Contains("i=1; mta.test", aar);
            Assert.Contains("dkim=pass", aar);
            Assert.Contains("dmarc=pass", aar);
            Assert.Contains(AuthenticationFixture.HeadersOf(text, "DKIM-Signature"), s => s.Contains("d=example.test") && s.Contains("s=lists"));

            var dns = server.Services.GetRequiredService<IDnsResolver>();
            var ct = TestContext.Current.CancellationToken;
            var arc = await new ArcVerification(dns).VerifyAsync(MimeMessage.Load(new MemoryStream(copy)), ct);
            Assert.Equal(ArcResult.Pass, arc.Result);
            Assert.Equal(1, arc.Instances);
            var dkim = await new DkimVerification(dns, TimeProvider.System).VerifyAsync(MimeMessage.Load(new MemoryStream(copy)), ct);
            Assert.Contains(dkim, d => d.Domain == "example.test" && d.Result == DkimResult.Pass);

            // A receiver further on sees a changed body: the seal no longer holds.
            var tampered = Encoding.ASCII.GetBytes(text.Replace("A signed message.", "A changed message."));
            var broken = await new ArcVerification(dns).VerifyAsync(MimeMessage.Load(new MemoryStream(tampered)), ct);
            Assert.Equal(ArcResult.Fail, broken.Result);
        }
        finally
        {
            MtaTestServer.DeleteQuietly(keys);
        }
    }
}
