// Every verb in every session state, over in-memory sessions: the reply each cell of the command table gives, and that
// the session goes on after it. The expected replies are written out here, not read from the table.
using System.Text.RegularExpressions;
using Mta.Engine.Configuration;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed partial class CommandTableTests(CommandTableTests.Servers servers) : IClassFixture<CommandTableTests.Servers>
{
    /// <summary>The states a cell starts from, each reached by the commands that lead to it.</summary>
    public enum State { Fresh, Helo, Ehlo, Mail, AllRefused, Rcpt }

    private static readonly Dictionary<State, string[]> Setup = new()
    {
        [State.Fresh] = [],
        [State.Helo] = ["HELO client.test"],
        [State.Ehlo] = ["EHLO client.test"],
        [State.Mail] = ["EHLO client.test", "MAIL FROM:<a@remote.test>"],
        // Relaying is refused: the transaction is open with no valid recipient.
        [State.AllRefused] = ["EHLO client.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<x@elsewhere.test>"],
        [State.Rcpt] = ["EHLO client.test", "MAIL FROM:<a@remote.test>", "RCPT TO:<alice@example.test>"],
    };

    // One row per command line; one cell per State in enum order: "code [enhanced] [a piece of the text]".
    private static readonly (string Line, string[] Cells)[] ClearTextListener =
    [
        ("HELO h.test", ["250", "250", "250", "250", "250", "250"]),
        ("EHLO h.test", ["250", "250", "250", "250", "250", "250"]),
        ("MAIL FROM:<b@remote.test>", ["503 5.5.1 Send HELO or EHLO first", "250 2.0.0", "250 2.0.0", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command"]),
        ("SEND FROM:<b@remote.test>", ["503 5.5.1 Send HELO or EHLO first", "502 5.5.1 SEND not available", "502 5.5.1 SEND not available", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command"]),
        ("SOML FROM:<b@remote.test>", ["503 5.5.1 Send HELO or EHLO first", "502 5.5.1 SOML not available", "502 5.5.1 SOML not available", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command"]),
        ("SAML FROM:<b@remote.test>", ["503 5.5.1 Send HELO or EHLO first", "502 5.5.1 SAML not available", "502 5.5.1 SAML not available", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command", "503 5.5.1 Nested MAIL command"]),
        ("RCPT TO:<bob@example.test>", ["503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command", "250 2.1.5", "250 2.1.5", "250 2.1.5"]),
        ("DATA", ["503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command", "503 5.5.1 Need RCPT command", "554 5.5.1 No valid recipients", "354"]),
        ("BDAT 5\r\nhello", ["502 5.5.1 BDAT not available", "502 5.5.1 BDAT not available", "503 5.5.1 Need MAIL command", "503 5.5.1 Need RCPT command", "554 5.5.1 No valid recipients", "250 2.0.0 5 octets received"]),
        ("RSET", ["250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0"]),
        ("NOOP", ["250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0", "250 2.0.0"]),
        ("VRFY x", ["252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0"]),
        ("EXPN x", ["252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0", "252 2.5.0"]),
        ("HELP", ["214", "214", "214", "214", "214", "214"]),
        ("QUIT", ["221 2.0.0", "221 2.0.0", "221 2.0.0", "221 2.0.0", "221 2.0.0", "221 2.0.0"]),
        ("TURN", ["502 5.5.1 TURN not available", "502 5.5.1 TURN not available", "502 5.5.1 TURN not available", "502 5.5.1 TURN not available", "502 5.5.1 TURN not available", "502 5.5.1 TURN not available"]),
        ("ETRN example.test", ["502 5.5.1 ETRN not available", "502 5.5.1 ETRN not available", "502 5.5.1 ETRN not available", "502 5.5.1 ETRN not available", "502 5.5.1 ETRN not available", "502 5.5.1 ETRN not available"]),
        ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", ["503 5.5.1 Send EHLO first", "503 5.5.1 Send EHLO first", "503 5.5.1 Authentication not enabled", "503 5.5.1 Authentication not enabled", "503 5.5.1 Authentication not enabled", "503 5.5.1 Authentication not enabled"]),
        ("STARTTLS", ["502 5.5.1 STARTTLS not available", "502 5.5.1 STARTTLS not available", "502 5.5.1 STARTTLS not available", "502 5.5.1 STARTTLS not available", "502 5.5.1 STARTTLS not available", "502 5.5.1 STARTTLS not available"]),
        ("XCLIENT ADDR=192.0.2.1", ["550 5.7.0 insufficient authorization", "550 5.7.0 insufficient authorization", "550 5.7.0 insufficient authorization", "550 5.7.0 insufficient authorization", "550 5.7.0 insufficient authorization", "550 5.7.0 insufficient authorization"]),
        ("XYZZY plugh", ["500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2", "500 5.5.2"]),
    ];

    // The same verbs where the listener and host offer them: TURN, ETRN and XCLIENT for 127.0.0.0/8, AUTH in clear text on loopback.
    private static readonly (string Line, string[] Cells)[] FeaturesListener =
    [
        ("TURN", ["503 5.5.1 Send HELO or EHLO first", "530 5.7.0 Authentication required", "530 5.7.0 Authentication required", "503 5.5.1 TURN not allowed during a mail transaction", "503 5.5.1 TURN not allowed during a mail transaction", "503 5.5.1 TURN not allowed during a mail transaction"]),
        ("ETRN example.test", ["503 5.5.1 Send HELO or EHLO first", "251 2.0.0 no messages waiting", "251 2.0.0 no messages waiting", "503 5.5.1 ETRN not allowed during a mail transaction", "503 5.5.1 ETRN not allowed during a mail transaction", "503 5.5.1 ETRN not allowed during a mail transaction"]),
        ("XCLIENT ADDR=192.0.2.1", ["220", "220", "220", "503 5.5.1 Error: MAIL transaction in progress", "503 5.5.1 Error: MAIL transaction in progress", "503 5.5.1 Error: MAIL transaction in progress"]),
        // A mechanism the server lacks is the first thing checked after the table let AUTH through.
        ("AUTH CRAM-MD5", ["503 5.5.1 Send EHLO first", "503 5.5.1 Send EHLO first", "504 5.5.4", "503 5.5.1 AUTH not permitted during a mail transaction", "503 5.5.1 AUTH not permitted during a mail transaction", "503 5.5.1 AUTH not permitted during a mail transaction"]),
        ("BDAT 5\r\nhello", ["502 5.5.1 BDAT not available", "502 5.5.1 BDAT not available", "503 5.5.1 Need MAIL command", "503 5.5.1 Need RCPT command", "554 5.5.1 No valid recipients", "250 2.0.0 5 octets received"]),
    ];

    // A submission listener (RFC 6409): mail needs AUTH, after the sequence rules.
    private static readonly (string Line, string[] Cells)[] SubmissionListener =
    [
        ("MAIL FROM:<b@example.test>", ["503 5.5.1 Send HELO or EHLO first", "530 5.7.0 Authentication required", "530 5.7.0 Authentication required"]),
        ("SEND FROM:<b@example.test>", ["503 5.5.1 Send HELO or EHLO first", "530 5.7.0 Authentication required", "530 5.7.0 Authentication required"]),
        ("RCPT TO:<bob@example.test>", ["503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command", "503 5.5.1 Need MAIL command"]),
    ];

    public static TheoryData<string, State, string, string> Cells()
    {
        var data = new TheoryData<string, State, string, string>();
        foreach (var (listener, rows) in new[] { ("clear", ClearTextListener), ("features", FeaturesListener), ("submission", SubmissionListener) })
            foreach (var (line, cells) in rows)
                for (var i = 0; i < cells.Length; i++)
                    data.Add(listener, (State)i, line, cells[i]);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cells))]
    public async Task Each_verb_in_each_state_gets_its_reply_and_the_session_goes_on(string listener, State state, string line, string expected)
    {
        var server = listener switch { "features" => servers.Features, "submission" => servers.Submission, _ => servers.Clear };
        await using var c = await server.ConnectAsync();
        foreach (var step in Setup[state])
        {
            var reply = await c.CommandAsync(step);
            Assert.True(reply.Code / 100 == 2 || step.StartsWith("RCPT TO:<x@", StringComparison.Ordinal), $"setup {step}: {reply}");
        }
        var answer = line.Contains("\r\n", StringComparison.Ordinal)
            ? await SendRawAsync(c, line)
            : await c.CommandAsync(line);
        var m = CellPattern().Match(expected);
        ReplyAssert.Is(answer, int.Parse(m.Groups["code"].Value), m.Groups["enhanced"].Success ? m.Groups["enhanced"].Value : null,
            m.Groups["text"].Success ? m.Groups["text"].Value : null);
        if (answer.Code is 221 or 354) return;
        // Nothing of the command (or a refused chunk) was left to be read as a command: the next one is answered on its own.
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250, "2.0.0");
    }

    private static async Task<SmtpTestReply> SendRawAsync(InMemorySmtpClient c, string bytes)
    {
        await c.SendAsync(bytes);
        return await c.ReadReplyAsync();
    }

    [GeneratedRegex(@"^(?<code>\d{3})(?: (?<enhanced>\d\.\d{1,3}\.\d{1,3}))?(?: (?<text>.+))?$")]
    private static partial Regex CellPattern();

    /// <summary>One engine per listener shape, shared by every cell (sessions do not affect each other here).</summary>
    public sealed class Servers : IAsyncLifetime
    {
        public InMemorySmtpServer Clear { get; } = InMemorySmtpServer.Create();

        public InMemorySmtpServer Features { get; } = InMemorySmtpServer.Create(o =>
        {
            o.Listeners[0].AllowTurn = true;
            o.Listeners[0].AllowPlaintextAuth = true;
            o.XClient.Networks = ["127.0.0.0/8"];
            o.Turn.EtrnNetworks = ["127.0.0.0/8"];
        });

        public InMemorySmtpServer Submission { get; } = InMemorySmtpServer.Create(o => o.Listeners[0].Role = ListenerRole.Submission);

        public ValueTask InitializeAsync() => ValueTask.CompletedTask;

        public async ValueTask DisposeAsync()
        {
            await Clear.DisposeAsync();
            await Features.DisposeAsync();
            await Submission.DisposeAsync();
        }
    }
}
