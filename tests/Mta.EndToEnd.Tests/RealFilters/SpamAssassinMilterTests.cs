// spamass-milter with a private spamd as Mta's milter: GTUBE is tagged (header changes, body replaced by the report) or refused.
using MailKit.Net.Smtp;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.RealFilters;

public sealed class SpamAssassinMilterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Spamass_milter_tags_GTUBE_as_spam_replacing_the_body_with_its_report_and_marks_clean_mail_as_ham()
    {
        SpamAssassinInstance.SkipIfUnavailable();
        await using var spamassassin = await SpamAssassinInstance.StartAsync(ct: Ct);
        await using var server = await MilterMessages.StartMtaAsync(("spamassassin", spamassassin.Address, MilterDefaultAction.Tempfail));

        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            await client.SendAsync(MilterMessages.New("carol@elsewhere.test", "bob@example.test", "Cheap", RspamdInstance.Gtube), Ct);
            await client.SendAsync(MilterMessages.New("carol@elsewhere.test", "dave@example.test", "Minutes", "The minutes of Monday's meeting."), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var spam = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("bob")), Ct);
        Assert.Equal("YES", spam.Headers["X-Spam-Flag"]?.Trim());
        Assert.StartsWith("Yes", spam.Headers["X-Spam-Status"]?.Trim() ?? "", StringComparison.Ordinal);
        Assert.Contains("GTUBE", spam.Headers["X-Spam-Status"] ?? "", StringComparison.Ordinal);
        // report_safe: SpamAssassin's report is the new body, the original message attached to it.
        Assert.Contains("Spam detection software", spam.TextBody ?? "", StringComparison.Ordinal);
        Assert.Contains(spam.BodyParts, p => p is MessagePart attached && attached.Message.Subject == "Cheap");

        var ham = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("dave")), Ct);
        Assert.StartsWith("No", ham.Headers["X-Spam-Status"]?.Trim() ?? "", StringComparison.Ordinal);
        Assert.Null(ham.Headers["X-Spam-Flag"]);
        Assert.Contains("Monday's meeting", ham.TextBody ?? "", StringComparison.Ordinal);
    }

    [Fact]
    public async Task Spamass_milter_with_a_reject_score_refuses_GTUBE_at_the_end_of_DATA()
    {
        SpamAssassinInstance.SkipIfUnavailable();
        await using var spamassassin = await SpamAssassinInstance.StartAsync(rejectScore: 15, ct: Ct);
        await using var server = await MilterMessages.StartMtaAsync(("spamassassin", spamassassin.Address, MilterDefaultAction.Tempfail));

        using var client = await MilterMessages.ConnectAsync(server, Ct);
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            client.SendAsync(MilterMessages.New("carol@elsewhere.test", "bob@example.test", "Cheap", RspamdInstance.Gtube), Ct));
        Assert.Equal(SmtpErrorCode.MessageNotAccepted, refused.ErrorCode);
        Assert.Equal(550, (int)refused.StatusCode);
        Assert.Contains("SpamAssassin", refused.Message, StringComparison.Ordinal);
        await client.NoOpAsync(Ct);
        await client.DisconnectAsync(true, Ct);
    }
}
