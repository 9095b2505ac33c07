// OpenDKIM as Mta's milter: it signs mail of its domain (the signature verifies, by Mta and by dkimpy) and verifies incoming signatures.
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.Engine.Authentication.Dkim;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.RealFilters;

[Collection(nameof(RealMiltersCollection))]
public sealed class OpenDkimMilterTests(RealMilters milters)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Sends one message from alice@example.test (OpenDKIM's signing domain) through an Mta running OpenDKIM and
    /// returns the delivered file.</summary>
    private static async Task<(string File, string QueueId)> SendSignedAsync(MtaTestServer server, string subject)
    {
        using var client = await MilterMessages.ConnectAsync(server, Ct);
        var response = await client.SendAsync(MilterMessages.New("alice@example.test", "bob@example.test", subject, "Noon at the usual place?"), Ct);
        await client.DisconnectAsync(true, Ct);
        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        return (file, SmtpAssert.QueueIdOf(response));
    }

    [Fact]
    public async Task OpenDKIM_signs_mail_of_its_domain_and_Mtas_own_verifier_passes_the_signature()
    {
        var dkim = milters.RequireOpenDkim();
        await using var server = await MilterMessages.StartMtaAsync(("opendkim", dkim.Address, MilterDefaultAction.Tempfail));

        var (file, queueId) = await SendSignedAsync(server, "Lunch");

        var message = await MimeMessage.LoadAsync(file, Ct);
        var signature = Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
        Assert.Contains("d=example.test", signature.Value, StringComparison.Ordinal);
        Assert.Contains("s=mta", signature.Value, StringComparison.Ordinal);
        // OpenDKIM names the job by the queue id Mta gave it in the i macro.
        Assert.Contains(queueId, message.Headers["DKIM-Filter"] ?? "", StringComparison.Ordinal);

        server.Dns.AddTxt(OpenDkimInstance.KeyName, dkim.PublicKeyRecord);
        var verifier = new DkimVerification(server.Services.GetRequiredService<IDnsResolver>(), TimeProvider.System);
        var check = Assert.Single(await verifier.VerifyAsync(message, Ct));
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.Equal(("example.test", "mta"), (check.Domain, check.Selector));
    }

    [Fact]
    public async Task OpenDKIM_signature_made_through_Mta_verifies_with_dkimpy()
    {
        var dkim = milters.RequireOpenDkim();
        await DkimPyVerifier.SkipIfUnavailableAsync();
        await using var server = await MilterMessages.StartMtaAsync(("opendkim", dkim.Address, MilterDefaultAction.Tempfail));

        var (file, _) = await SendSignedAsync(server, "Lunch again");

        var (verified, output) = await DkimPyVerifier.VerifyAsync(file, OpenDkimInstance.KeyName, dkim.PublicKeyRecord, Ct);
        Assert.True(verified, "dkimpy: " + output + "\n" + await File.ReadAllTextAsync(file, Ct));
    }

    [Fact]
    public async Task OpenDKIM_does_not_sign_mail_of_other_domains()
    {
        var dkim = milters.RequireOpenDkim();
        await using var server = await MilterMessages.StartMtaAsync(("opendkim", dkim.Address, MilterDefaultAction.Tempfail));

        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            await client.SendAsync(MilterMessages.New("carol@elsewhere.test", "bob@example.test", "Hi", "From elsewhere"), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var message = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("bob")), Ct);
        Assert.DoesNotContain(message.Headers, h => h.Id == HeaderId.DkimSignature);
    }

    [Fact]
    public async Task OpenDKIM_in_verify_mode_adds_its_Authentication_Results_pass_for_a_good_signature_and_fail_for_a_changed_body()
    {
        OpenDkimInstance.SkipIfUnavailable();
        await using var verifier = await OpenDkimInstance.StartAsync(OpenDkimMode.Verify, Ct);
        await using var server = await MilterMessages.StartMtaAsync(("opendkim-verify", verifier.Address, MilterDefaultAction.Tempfail));
        // Signed before sending, by MimeKit with the key the verifying OpenDKIM holds in its TestPublicKeys.
        var signer = new DkimSigner(Path.Combine(verifier.Root, OpenDkimInstance.Selector + ".private"), OpenDkimInstance.Domain, OpenDkimInstance.Selector)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Simple,
        };
        HeaderId[] signed = [HeaderId.From, HeaderId.To, HeaderId.Subject, HeaderId.Date, HeaderId.MessageId];
        var good = MilterMessages.New("alice@example.test", "bob@example.test", "Signed", "Signed by the sender");
        good.Prepare(EncodingConstraint.SevenBit);
        signer.Sign(good, signed);
        var changed = MilterMessages.New("alice@example.test", "carol@example.test", "Signed", "Signed by the sender");
        changed.Prepare(EncodingConstraint.SevenBit);
        signer.Sign(changed, signed);
        changed.Body = new TextPart("plain") { Text = "Changed on the way\r\n" };

        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            await client.SendAsync(good, Ct);
            await client.SendAsync(changed, Ct);
            await client.DisconnectAsync(true, Ct);
        }

        Assert.Contains("dkim=pass", await OpenDkimResultAsync("bob"), StringComparison.Ordinal);
        Assert.Contains("dkim=fail", await OpenDkimResultAsync("carol"), StringComparison.Ordinal);

        async Task<string> OpenDkimResultAsync(string user)
        {
            var message = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync(user)), Ct);
            var results = message.Headers.Where(h => h.Id == HeaderId.AuthenticationResults).Select(h => h.Value.Trim()).ToList();
            return Assert.Single(results, r => r.StartsWith(OpenDkimInstance.AuthservId + ";", StringComparison.Ordinal));
        }
    }
}
