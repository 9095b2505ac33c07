// The command table as data, without a session: every verb has a row, and the order in which its rules are checked.
using Mta.Engine.Receiver.Commands;
using Mta.Protocol;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class CommandTableRulesTests
{
    private static SessionFacts Facts(SessionState state, Feature features = Feature.None, bool tls = false, bool clearText = false, bool submission = false) =>
        new(state, features, tls, clearText, submission);

    private static CommandRow Row(SmtpVerb verb) => CommandTable.For(verb) ?? throw new InvalidOperationException($"no row for {verb}");

    [Fact]
    public void Every_verb_the_parser_produces_has_exactly_one_row()
    {
        foreach (var verb in Enum.GetValues<SmtpVerb>())
            Assert.Equal(verb, Row(verb).Verb);
        Assert.Equal(Enum.GetValues<SmtpVerb>().Length, CommandTable.All.Count());
    }

    [Fact]
    public void Every_refused_state_of_a_row_is_listed_in_check_order()
    {
        foreach (var row in CommandTable.All)
            for (var i = 1; i < row.RefusedIn.Length; i++)
                Assert.True(row.RefusedIn[i - 1].State < row.RefusedIn[i].State, $"{row.Verb}: {row.RefusedIn[i - 1].State} before {row.RefusedIn[i].State}");
    }

    [Fact]
    public void The_feature_comes_first_then_the_greeting_then_TLS_then_the_transaction_then_AUTH()
    {
        var notGreetedInTransaction = SessionState.NotGreeted | SessionState.NotExtended | SessionState.InTransaction;
        // TURN not offered: 502, whatever else is wrong.
        Assert.Equal(502, CommandTable.Check(Row(SmtpVerb.Turn), Facts(notGreetedInTransaction))!.Code);
        // Offered: the greeting is reported before the transaction.
        Assert.Contains("Send HELO or EHLO first", CommandTable.Check(Row(SmtpVerb.Turn), Facts(notGreetedInTransaction, Feature.Turn))!.Lines[0]);
        // AUTH: EHLO first, then TLS (538 on a TLS listener), then "already authenticated", then the transaction.
        var auth = Row(SmtpVerb.Auth);
        Assert.Contains("Send EHLO first", CommandTable.Check(auth, Facts(SessionState.NotExtended | SessionState.InTransaction, Feature.Tls))!.Lines[0]);
        Assert.Equal(538, CommandTable.Check(auth, Facts(SessionState.Authenticated | SessionState.InTransaction, Feature.Tls))!.Code);
        Assert.Contains("Authentication not enabled", CommandTable.Check(auth, Facts(SessionState.InTransaction))!.Lines[0]);
        Assert.Contains("Already authenticated", CommandTable.Check(auth, Facts(SessionState.Authenticated | SessionState.InTransaction, Feature.Tls, tls: true))!.Lines[0]);
        Assert.Contains("not permitted during a mail transaction", CommandTable.Check(auth, Facts(SessionState.InTransaction, clearText: true))!.Lines[0]);
        Assert.Null(CommandTable.Check(auth, Facts(SessionState.NoTransaction, Feature.Tls, tls: true)));
        // MAIL on submission: the sequence before AUTH (a nested MAIL is a 503 even unauthenticated).
        var mail = Row(SmtpVerb.Mail);
        Assert.Equal(503, CommandTable.Check(mail, Facts(SessionState.InTransaction, submission: true))!.Code);
        Assert.Equal(530, CommandTable.Check(mail, Facts(SessionState.NoTransaction, submission: true))!.Code);
        Assert.Null(CommandTable.Check(mail, Facts(SessionState.NoTransaction | SessionState.Authenticated, submission: true)));
        Assert.Null(CommandTable.Check(mail, Facts(SessionState.NoTransaction)));
    }

    [Fact]
    public void DATA_reports_the_first_of_its_transaction_rules()
    {
        var data = Row(SmtpVerb.Data);
        var all = SessionState.InTransaction | SessionState.Chunking | SessionState.BinaryBody | SessionState.NoValidRecipients | SessionState.NoRecipients;
        Assert.Contains("after BDAT", CommandTable.Check(data, Facts(all))!.Lines[0]);
        Assert.Contains("BINARYMIME", CommandTable.Check(data, Facts(all & ~SessionState.Chunking))!.Lines[0]);
        Assert.Equal(554, CommandTable.Check(data, Facts(SessionState.InTransaction | SessionState.NoValidRecipients | SessionState.NoRecipients))!.Code);
        Assert.Contains("Need RCPT", CommandTable.Check(data, Facts(SessionState.InTransaction | SessionState.NoRecipients))!.Lines[0]);
        Assert.Null(CommandTable.Check(data, Facts(SessionState.InTransaction)));
        Assert.True(Row(SmtpVerb.Bdat).RefusalConsumesPayload);
    }

    [Fact]
    public void STARTTLS_runs_only_before_TLS_on_a_TLS_listener()
    {
        var starttls = Row(SmtpVerb.StartTls);
        Assert.Equal(502, CommandTable.Check(starttls, Facts(SessionState.NotGreeted))!.Code);
        Assert.Null(CommandTable.Check(starttls, Facts(SessionState.NotGreeted, Feature.Tls)));
        Assert.Contains("TLS already active", CommandTable.Check(starttls, Facts(SessionState.None, Feature.Tls, tls: true))!.Lines[0]);
    }
}
