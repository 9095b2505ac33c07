// Every 4xx/5xx reply to a client's command is logged once, in the session's key=value shape (LogEvents.Receiver.Refused).
using System.Text.RegularExpressions;
using Mta.Abstractions;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionRefusalLogTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    private readonly CapturingLoggerProvider _logs = new();

    private IReadOnlyList<string> Refusals => [.. _logs.WithEvent(LogEvents.Receiver.Refused).Select(l => l.Message)];

    [Fact]
    public async Task A_relay_denied_RCPT_logs_one_line_with_client_helo_sender_recipient_and_reply()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@remote.example>"), 554, "5.7.1", "Relay access denied");

        var line = Assert.Single(Refusals);
        Assert.Matches(
            @"^session=\S+ reject command=RCPT client=unknown\[127\.0\.0\.1\] helo=client\.example from=<a@example\.test> to=<x@remote\.example> reply=""554 5\.7\.1 .*Relay access denied""$",
            line);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, _logs.WithEvent(LogEvents.Receiver.Refused)[0].Level);
    }

    [Fact]
    public async Task A_sequencing_error_from_the_command_table_is_logged()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<x@example.test>"), 503);

        var line = Assert.Single(Refusals);
        Assert.Matches(@"^session=\S+ reject command=RCPT client=unknown\[127\.0\.0\.1\] helo=client\.example from=- to=<x@example\.test> reply=""503 5\.5\.1 ", line);
    }

    [Fact]
    public async Task A_hook_reject_of_MAIL_is_logged_with_the_refused_sender()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs, hooks: r =>
            r.Register<MailContext>("block", (ctx, ct) => R(HookResult.Reject("Sender blocked", 550, "5.7.1"))));
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<spam@bad.example>"), 550, "5.7.1");

        var line = Assert.Single(Refusals);
        Assert.EndsWith(@"command=MAIL client=unknown[127.0.0.1] helo=client.example from=<spam@bad.example> to=- reply=""550 5.7.1 Sender blocked""", line);
    }

    [Fact]
    public async Task Syntax_errors_and_unknown_verbs_are_logged_with_the_verb_as_sent()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        var syntax = await c.CommandAsync("MAIL FROM:bogus");
        Assert.Equal(501, syntax.Code);
        var unknown = await c.CommandAsync("WIBBLE now");
        Assert.Equal(500, unknown.Code);

        Assert.Collection(Refusals,
            l => Assert.Contains("command=MAIL ", l),
            l => Assert.Contains("command=WIBBLE ", l));
        Assert.All(Refusals, l => Assert.Contains("client=unknown[127.0.0.1] helo=client.example", l));
    }

    [Fact]
    public async Task An_accepted_message_logs_no_refusal()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<b@example.test>"), 250);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        ReplyAssert.Is(await c.CommandAsync("Subject: hi\r\n\r\nbody\r\n."), 250);
        ReplyAssert.Is(await c.CommandAsync("QUIT"), 221);

        Assert.Empty(Refusals);
    }

    [Fact]
    public async Task An_end_of_message_refusal_is_logged_against_DATA_with_the_sender()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@example.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:<b@example.test>"), 250);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        // A bare LF: refused once the message is complete.
        ReplyAssert.Is(await c.CommandAsync("Subject: hi\n\nbody\r\n."), 554, "5.6.0");

        var line = Assert.Single(Refusals);
        Assert.Contains(@"command=DATA client=unknown[127.0.0.1] helo=client.example from=<a@example.test> to=- reply=""554 5.6.0 ", line);
    }

    [Fact]
    public async Task A_line_too_long_is_logged_without_a_verb()
    {
        await using var server = InMemorySmtpServer.Create(logs: _logs);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c, "client.example");
        Assert.Equal(500, (await c.CommandAsync("NOOP " + new string('x', 600))).Code);

        var line = Assert.Single(Refusals);
        Assert.Contains(@"command=- client=unknown[127.0.0.1] helo=client.example from=- to=- reply=""500 5.5.6 Line too long", line);
    }

    [Fact]
    public void The_fail2ban_expression_in_docs_matches_a_refusal_line_and_takes_the_address()
    {
        // The failregex of docs/logging.md, with fail2ban's <HOST> written as the group it stands for.
        const string failregex = @"session=\S+ reject command=(?:RCPT|AUTH) client=[^\s\[]*\[(?<host>[0-9A-Fa-f.:]+)\] .* reply=""(?:554 5\.7\.1|535 )";
        const string line = "session=0A1B2C3D reject command=RCPT client=unknown[192.0.2.7] helo=spam.example from=<a@b.example> to=<x@remote.example> reply=\"554 5.7.1 <x@remote.example>: Relay access denied\"";
        var match = Regex.Match(line, failregex);
        Assert.True(match.Success);
        Assert.Equal("192.0.2.7", match.Groups["host"].Value);
    }
}
