// Two real milters on one listener, OpenDKIM then rspamd: both act on a clean message, rspamd's refusal stands for GTUBE, and order counts.
using MailKit.Net.Smtp;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.RealFilters;

[Collection(nameof(RealMiltersCollection))]
public sealed class MilterChainTests(RealMilters milters)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OpenDKIM_then_rspamd_sign_and_scan_a_clean_message_and_rspamd_rejects_GTUBE()
    {
        var dkim = milters.RequireOpenDkim();
        var rspamd = milters.RequireRspamd();
        await using var server = await MilterMessages.StartMtaAsync(
            ("opendkim", dkim.Address, MilterDefaultAction.Tempfail), ("rspamd", rspamd.Address, MilterDefaultAction.Tempfail));

        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            var spam = await Assert.ThrowsAsync<SmtpCommandException>(() =>
                client.SendAsync(MilterMessages.New("alice@example.test", "bob@example.test", "Cheap", RspamdInstance.Gtube), Ct));
            Assert.Equal(RspamdInstance.GtubeReply, $"{(int)spam.StatusCode} {spam.Message}");
            await client.SendAsync(MilterMessages.New("alice@example.test", "bob@example.test", "Lunch", "Noon at the usual place?"), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var file = Assert.Single(await server.WaitForMailAsync("bob"));
        var message = await MimeMessage.LoadAsync(file, Ct);
        Assert.Equal("Lunch", message.Subject);
        Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
        Assert.Equal("no action", message.Headers["X-Rspamd-Action"]);
        // rspamd's headers were added after OpenDKIM signed: the signature still verifies.
        await DkimPyVerifier.SkipIfUnavailableAsync();
        var (verified, output) = await DkimPyVerifier.VerifyAsync(file, OpenDkimInstance.KeyName, dkim.PublicKeyRecord, Ct);
        Assert.True(verified, output);
    }

    /// <summary>As in Postfix (the reference test shows it): a milter sees the message as the milters before it left
    /// it, so rspamd placed after OpenDKIM checks OpenDKIM's signature (R_DKIM_ALLOW, against the key in the stub DNS),
    /// and placed before it finds no signature at all (R_DKIM_NA).</summary>
    [Fact]
    public async Task The_order_counts_rspamd_after_OpenDKIM_checks_its_signature_rspamd_before_it_sees_none()
    {
        var dkim = milters.RequireOpenDkim();
        var rspamd = milters.RequireRspamd();

        Assert.Contains("R_DKIM_ALLOW", await RspamdResultAsync(("opendkim", dkim.Address), ("rspamd", rspamd.Address)), StringComparison.Ordinal);
        Assert.Contains("R_DKIM_NA", await RspamdResultAsync(("rspamd", rspamd.Address), ("opendkim", dkim.Address)), StringComparison.Ordinal);

        static async Task<string> RspamdResultAsync(params (string Name, string Address)[] order)
        {
            await using var server = await MilterMessages.StartMtaAsync([.. order.Select(m => (m.Name, m.Address, MilterDefaultAction.Tempfail))]);
            using (var client = await MilterMessages.ConnectAsync(server, Ct))
            {
                await client.SendAsync(MilterMessages.New("alice@example.test", "bob@example.test", "Order", "Which came first?"), Ct);
                await client.DisconnectAsync(true, Ct);
            }
            var message = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("bob")), Ct);
            Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
            return message.Headers["X-Spamd-Result"] ?? "(no X-Spamd-Result)";
        }
    }
}
