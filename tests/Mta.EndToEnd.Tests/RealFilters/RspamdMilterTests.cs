// rspamd in milter mode as Mta's milter: GTUBE is refused at the end of DATA with rspamd's reply, clean mail gets rspamd's headers.
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.Engine.Configuration;
using Mta.Testing;

namespace Mta.EndToEnd.Tests.RealFilters;

[Collection(nameof(RealMiltersCollection))]
public sealed class RspamdMilterTests(RealMilters milters)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rspamd_rejects_a_GTUBE_message_at_the_end_of_DATA_with_its_own_reply_and_the_session_goes_on()
    {
        var rspamd = milters.RequireRspamd();
        await using var server = await MilterMessages.StartMtaAsync(("rspamd", rspamd.Address, MilterDefaultAction.Tempfail));

        using var client = await MilterMessages.ConnectAsync(server, Ct);
        var spam = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            client.SendAsync(MilterMessages.New("carol@elsewhere.test", "bob@example.test", "Cheap", RspamdInstance.Gtube), Ct));
        Assert.Equal(SmtpErrorCode.MessageNotAccepted, spam.ErrorCode);
        Assert.Equal(RspamdInstance.GtubeReply, $"{(int)spam.StatusCode} {spam.Message}");

        // Same connection: the refusal ended the transaction, not the session.
        var response = await client.SendAsync(MilterMessages.New("carol@elsewhere.test", "bob@example.test", "Lunch", "Noon at the usual place?"), Ct);
        await client.DisconnectAsync(true, Ct);

        var delivered = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("bob")), Ct);
        Assert.Equal("Lunch", delivered.Subject);
        Assert.Equal(SmtpAssert.QueueIdOf(response), delivered.Headers["X-Rspamd-Queue-Id"]);
        // rspamd's own log of the refused message: the client address from connect, the queue id from the i macro,
        // the envelope sender from MAIL.
        // Written when rspamd's task ends, which may be a moment after its reply went out.
        var logged = new Regex(@"qid: <[^>]+>, ip: 127\.0\.0\.1, from: <carol@elsewhere\.test>, \(default: S \(reject\): \[15\.00/15\.00\] \[GTUBE");
        await Conditions.WaitUntilAsync(() => logged.IsMatch(rspamd.Output), "rspamd's log line of the GTUBE message", cancellationToken: Ct);
    }

    [Fact]
    public async Task Rspamd_passes_a_clean_message_and_its_result_headers_show_the_envelope_it_saw()
    {
        var rspamd = milters.RequireRspamd();
        await using var server = await MilterMessages.StartMtaAsync(("rspamd", rspamd.Address, MilterDefaultAction.Tempfail));

        string response;
        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            response = await client.SendAsync(MilterMessages.New("carol@elsewhere.test", "dave@example.test", "Minutes", "The minutes of Monday's meeting."), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var delivered = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("dave")), Ct);
        Assert.Equal("no action", delivered.Headers["X-Rspamd-Action"]);
        Assert.Equal(SmtpAssert.QueueIdOf(response), delivered.Headers["X-Rspamd-Queue-Id"]);
        var result = delivered.Headers["X-Spamd-Result"] ?? "";
        Assert.StartsWith("default: False", result, StringComparison.Ordinal);
        // Symbols that need the envelope: MAIL's sender equals From, RCPT's one recipient equals To.
        Assert.Contains("FROM_EQ_ENVFROM", result, StringComparison.Ordinal);
        Assert.Contains("TO_MATCH_ENVRCPT_ALL", result, StringComparison.Ordinal);
        Assert.Contains("RCPT_COUNT_ONE", result, StringComparison.Ordinal);
    }
}
