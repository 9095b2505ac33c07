// The reference: a private Postfix runs the same private OpenDKIM and rspamd the Mta tests use, and gets what Mta must get.
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.MilterTestServer;

namespace Mta.EndToEnd.Tests.RealFilters;

/// <summary>
/// What Postfix 3.7, the MTA these filters are written for, makes of the filter set-ups in <see cref="RealMilters"/>:
/// proof that the fixtures work before Mta is in the picture, and the replies Mta's are compared with.
/// </summary>
[Collection(nameof(RealMiltersCollection))]
public sealed class PostfixReferenceTests(RealMilters milters)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Postfix_with_OpenDKIM_then_rspamd_signs_clean_mail_and_rejects_GTUBE()
    {
        PostfixInstance.SkipIfUnavailable();
        var dkim = milters.RequireOpenDkim();
        var rspamd = milters.RequireRspamd();
        await using var postfix = await PostfixInstance.StartAsync(new PostfixSettings { Milters = [dkim.Address, rspamd.Address] }, Ct);

        using var client = new SmtpClient { Timeout = 30_000, LocalDomain = "client.test" };
        await client.ConnectAsync("127.0.0.1", postfix.SmtpPort, SecureSocketOptions.None, Ct);
        var spam = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            client.SendAsync(MilterMessages.New("alice@example.test", "bob@pf.test", "Cheap", RspamdInstance.Gtube), Ct));
        Assert.Equal(554, (int)spam.StatusCode);
        Assert.Equal(RspamdInstance.GtubeReply, $"{(int)spam.StatusCode} {spam.Message}");

        await client.SendAsync(MilterMessages.New("alice@example.test", "bob@pf.test", "Lunch", "Noon at the usual place?"), Ct);
        await client.DisconnectAsync(true, Ct);

        var file = Assert.Single(await postfix.WaitForMailAsync("bob", ct: Ct));
        var message = await MimeMessage.LoadAsync(file, Ct);
        Assert.Equal("Lunch", message.Subject);
        var signature = Assert.Single(message.Headers, h => h.Id == HeaderId.DkimSignature);
        Assert.Contains("d=example.test", signature.Value, StringComparison.Ordinal);
        // rspamd, second in line, saw OpenDKIM's signature and checked it against the key in the stub DNS.
        Assert.Contains("R_DKIM_ALLOW", message.Headers["X-Spamd-Result"] ?? message.Headers.ToString(), StringComparison.Ordinal);
        await DkimPyVerifier.SkipIfUnavailableAsync();
        var (verified, output) = await DkimPyVerifier.VerifyAsync(file, OpenDkimInstance.KeyName, dkim.PublicKeyRecord, Ct);
        Assert.True(verified, output);
    }

    /// <summary>Where Postfix 3.7 puts a tempfail its milter gave at connect, or a refusal at HELO: not on EHLO (it
    /// succeeds), but on MAIL and each later command, as smtpd_delay_reject does for its own restrictions. (A reject at
    /// connect is different again: Postfix greets with 554 "not accepting connections".)</summary>
    [Theory]
    [InlineData("connect=tempfail", 451, "4.7.1")]
    [InlineData("helo=reject", 550, "5.7.1")]
    public async Task Postfix_answers_a_milter_refusal_at_connect_or_HELO_from_MAIL_on(string stage, int code, string enhanced)
    {
        PostfixInstance.SkipIfUnavailable();
        await using var milter = TestMilter.Start(TestMilterOptions.Parse(["--at", stage]));
        await using var postfix = await PostfixInstance.StartAsync(new PostfixSettings { Milters = [milter.Address] }, Ct);

        await using var c = await RawSmtpClient.ConnectAsync(postfix.SmtpEndPoint);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test>"), code, enhanced);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }
}
