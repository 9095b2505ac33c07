// A real milter that went away (OpenDKIM stopped): DefaultAction Accept lets mail through unsigned, Tempfail answers 451 4.7.1 from MAIL on, as Postfix does.
using System.Net;
using MimeKit;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.EndToEnd.Tests.Infrastructure.Milters;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests.RealFilters;

public sealed class MilterDefaultActionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>An OpenDKIM started and stopped again: its socket file is left behind, nobody listens on it (a filter
    /// that crashed or was stopped for an upgrade).</summary>
    private static async Task<OpenDkimInstance> StoppedOpenDkimAsync()
    {
        OpenDkimInstance.SkipIfUnavailable();
        var dkim = await OpenDkimInstance.StartAsync(OpenDkimMode.SignAndVerify, Ct);
        await dkim.StopAsync();
        Assert.True(dkim.HasExited);
        return dkim;
    }

    /// <summary>One session, a reply per command: what the client sees of a dead milter.</summary>
    private static async Task<List<string>> DialogueAsync(IPEndPoint endPoint)
    {
        var replies = new List<string>();
        await using var c = await RawSmtpClient.ConnectAsync(endPoint);
        foreach (var command in new[] { "EHLO client.test", "MAIL FROM:<alice@example.test>", "RCPT TO:<bob@example.test>", "NOOP", "RSET" })
        {
            var reply = await c.CommandAsync(command);
            replies.Add($"{command.Split(' ')[0]} {reply.Code} {SmtpEnhanced(reply)}".TrimEnd());
        }
        replies.Add("QUIT " + (await c.CommandAsync("QUIT")).Code);
        return replies;

        static string SmtpEnhanced(RawReply reply) =>
            reply.Lines[^1].Split(' ')[0] is var first && first.Count(ch => ch == '.') == 2 && char.IsDigit(first[0]) ? first : "";
    }

    [Fact]
    public async Task Accept_lets_mail_through_unsigned_when_OpenDKIM_is_down()
    {
        await using var dkim = await StoppedOpenDkimAsync();
        await using var server = await MilterMessages.StartMtaAsync(("opendkim", dkim.Address, MilterDefaultAction.Accept));

        using (var client = await MilterMessages.ConnectAsync(server, Ct))
        {
            await client.SendAsync(MilterMessages.New("alice@example.test", "bob@example.test", "Unsigned", "OpenDKIM is down"), Ct);
            await client.DisconnectAsync(true, Ct);
        }

        var message = await MimeMessage.LoadAsync(Assert.Single(await server.WaitForMailAsync("bob")), Ct);
        Assert.Equal("Unsigned", message.Subject);
        Assert.DoesNotContain(message.Headers, h => h.Id == HeaderId.DkimSignature);
    }

    [Fact]
    public async Task Tempfail_answers_like_Postfix_EHLO_250_then_451_4_7_1_from_MAIL_on_and_the_session_goes_on_when_OpenDKIM_is_down()
    {
        await using var dkim = await StoppedOpenDkimAsync();
        await using var server = await MilterMessages.StartMtaAsync(("opendkim", dkim.Address, MilterDefaultAction.Tempfail));

        Assert.Equal(ExpectedWithDeadMilter, await DialogueAsync(server.EndPoint));
        Assert.False(Directory.Exists(server.MaildirNew("bob")) && Directory.EnumerateFiles(server.MaildirNew("bob")).Any());
    }

    /// <summary>What Postfix 3.7 answers with <c>milter_default_action = tempfail</c> and its milter down (the reference
    /// test below checks it): the greeting and EHLO as usual, then 451 4.7.1 to MAIL; RCPT without a sender is out of
    /// sequence; the session goes on.</summary>
    private static readonly List<string> ExpectedWithDeadMilter =
        ["EHLO 250", "MAIL 451 4.7.1", "RCPT 503 5.5.1", "NOOP 250 2.0.0", "RSET 250 2.0.0", "QUIT 221"];

    [Fact]
    public async Task Postfix_answers_EHLO_250_then_451_4_7_1_from_MAIL_on_with_milter_default_action_tempfail_and_OpenDKIM_down()
    {
        PostfixInstance.SkipIfUnavailable();
        await using var dkim = await StoppedOpenDkimAsync();
        await using var postfix = await PostfixInstance.StartAsync(new PostfixSettings { Milters = [dkim.Address], MilterDefaultAction = "tempfail" }, Ct);

        var replies = await DialogueAsync(postfix.SmtpEndPoint);

        Assert.Equal(ExpectedWithDeadMilter, replies);
    }
}
