// The command table (OpenSMTPD's smtp_session.c shape): verb -> feature, allowed states, TLS, AUTH, limits, handler.
// Every sequencing refusal the server sends comes from here.
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver.Commands;

internal static class CommandTable
{
    private static readonly SmtpReply SendHeloFirst = BadSequence("Send HELO or EHLO first");
    private static readonly SmtpReply NeedMail = BadSequence("Need MAIL command");
    private static readonly SmtpReply NeedRcpt = BadSequence("Need RCPT command");
    // RFC 5321 3.3: after every RCPT was refused, DATA (or BDAT) gets 554 rather than 503.
    private static readonly SmtpReply NoValidRecipients = new(554, "5.5.1", "No valid recipients");

    private static readonly (SessionState, SmtpReply)[] MailSequence =
        [(SessionState.NotGreeted, SendHeloFirst), (SessionState.InTransaction, BadSequence("Nested MAIL command"))];

    private static readonly CommandRow?[] Rows = Index(
    [
        new(SmtpVerb.Helo, static async (s, c, t) => { await s.OnHeloAsync(((HeloCommand)c).Domain, extended: false, t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Ehlo, static async (s, c, t) => { await s.OnHeloAsync(((EhloCommand)c).Domain, extended: true, t); return AfterLine.ReadCommand; }),
        MailRow(SmtpVerb.Mail),
        // RFC 821 3.4: SEND, SOML and SAML open a transaction as MAIL does.
        MailRow(SmtpVerb.Send),
        MailRow(SmtpVerb.Soml),
        MailRow(SmtpVerb.Saml),
        new(SmtpVerb.Rcpt, static async (s, c, t) => { await s.OnRcptAsync((RcptCommand)c, t); return AfterLine.ReadCommand; })
        {
            RefusedIn = [(SessionState.NoTransaction, NeedMail)],
        },
        new(SmtpVerb.Data, static async (s, _, t) => await s.OnDataAsync(t) ? AfterLine.ReceiveData : AfterLine.ReadCommand)
        {
            RefusedIn =
            [
                (SessionState.NoTransaction, NeedMail),
                // RFC 3030 2: DATA and BDAT cannot be mixed in one transaction; 3: BINARYMIME needs BDAT.
                (SessionState.Chunking, BadSequence("DATA not allowed after BDAT in the same transaction")),
                (SessionState.BinaryBody, BadSequence("BODY=BINARYMIME requires BDAT, not DATA (RFC 3030 3)")),
                (SessionState.NoValidRecipients, NoValidRecipients),
                (SessionState.NoRecipients, NeedRcpt),
            ],
        },
        new(SmtpVerb.Bdat, static (s, c, t) => s.OnBdatAsync((BdatCommand)c, t))
        {
            Feature = Feature.Chunking,
            NotOffered = new SmtpReply(502, "5.5.1", "BDAT not available (CHUNKING is not offered)"),
            RefusedIn = [(SessionState.NoTransaction, NeedMail), (SessionState.NoValidRecipients, NoValidRecipients), (SessionState.NoRecipients, NeedRcpt)],
            RefusalConsumesPayload = true,
        },
        new(SmtpVerb.Rset, static async (s, _, t) => { await s.OnRsetAsync(t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Noop, static async (s, _, t) => { await s.OnNoopAsync(t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Quit, static async (s, _, t) => { await s.OnQuitAsync(t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Vrfy, static async (s, c, t) => { await s.OnVrfyAsync(((VrfyCommand)c).Argument, t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Expn, static async (s, c, t) => { await s.OnExpnAsync(((ExpnCommand)c).Argument, t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Help, static async (s, c, t) => { await s.OnHelpAsync(((HelpCommand)c).Topic, t); return AfterLine.ReadCommand; }),
        new(SmtpVerb.Turn, static (s, _, t) => s.OnTurnAsync(t))
        {
            Feature = Feature.Turn,
            NotOffered = new SmtpReply(502, "5.5.1", "TURN not available"),
            RefusedIn = [(SessionState.NotGreeted, SendHeloFirst), (SessionState.InTransaction, BadSequence("TURN not allowed during a mail transaction"))],
            // RFC 2645 1: whoever asks would get the mail.
            Auth = AuthRule.Required,
            Refused = static (s, reply) => s.OnTurnRefused(reply),
        },
        new(SmtpVerb.Etrn, static (s, c, _) => { s.OnEtrn(((EtrnCommand)c).Argument); return ValueTask.FromResult(AfterLine.ReadCommand); })
        {
            Feature = Feature.Etrn,
            NotOffered = new SmtpReply(502, "5.5.1", "ETRN not available"),
            RefusedIn = [(SessionState.NotGreeted, SendHeloFirst), (SessionState.InTransaction, BadSequence("ETRN not allowed during a mail transaction"))],
        },
        new(SmtpVerb.Auth, static (s, c, _) => ValueTask.FromResult(s.BeginAuth((AuthCommand)c)))
        {
            RefusedIn =
            [
                (SessionState.NotExtended, BadSequence("Send EHLO first")),
                (SessionState.Authenticated, SaslReplies.AlreadyAuthenticated),
                (SessionState.InTransaction, SaslReplies.NotDuringTransaction),
            ],
            Tls = TlsRule.Required,
            TlsRefusal = BadSequence("Authentication not enabled"),
        },
        new(SmtpVerb.StartTls, static (s, _, _) => ValueTask.FromResult(s.OnStartTls()))
        {
            Feature = Feature.Tls,
            NotOffered = new SmtpReply(502, "5.5.1", "STARTTLS not available"),
            Tls = TlsRule.BeforeTls,
            TlsRefusal = BadSequence("TLS already active"),
        },
        new(SmtpVerb.XClient, static async (s, c, t) => { await s.OnXClientAsync((XClientCommand)c, t); return AfterLine.ReadCommand; })
        {
            Feature = Feature.XClient,
            NotOffered = new SmtpReply(550, "5.7.0", "Error: insufficient authorization"),
            RefusedIn = [(SessionState.InTransaction, BadSequence("Error: MAIL transaction in progress"))],
            Refused = static (s, reply) => s.OnXClientRefused(reply),
        },
        new(SmtpVerb.Unknown, static async (s, c, t) => { await s.OnUnknownAsync((UnknownCommand)c, t); return AfterLine.ReadCommand; }),
    ]);

    /// <summary>The row of <paramref name="verb"/>, or null for a verb the server parses but does not run.</summary>
    public static CommandRow? For(SmtpVerb verb) => (int)verb < Rows.Length ? Rows[(int)verb] : null;

    /// <summary>The reply that refuses the command now, or null when it may run. The one place sequencing is decided.</summary>
    public static SmtpReply? Check(CommandRow row, in SessionFacts facts)
    {
        if (row.Feature != Feature.None && (facts.Features & row.Feature) == 0) return row.NotOffered;
        if (Refusal(row, facts.State & Greeting) is { } greeting) return greeting;
        switch (row.Tls)
        {
            case TlsRule.Required when !facts.TlsActive && !facts.ClearTextAllowed:
                // A TLS listener in clear text: STARTTLS first (RFC 4954 4: 538). A listener without TLS never offers it.
                return (facts.Features & Feature.Tls) != 0 ? SaslReplies.EncryptionRequired : row.TlsRefusal;
            case TlsRule.BeforeTls when facts.TlsActive:
                return row.TlsRefusal;
        }
        if (Refusal(row, facts.State & ~Greeting) is { } sequence) return sequence;
        var needsAuth = row.Auth == AuthRule.Required || (row.Auth == AuthRule.OnSubmission && facts.Submission);
        if (needsAuth && !facts.Has(SessionState.Authenticated)) return SaslReplies.Required;
        return null;
    }

    private const SessionState Greeting = SessionState.NotGreeted | SessionState.NotExtended;

    private static SmtpReply? Refusal(CommandRow row, SessionState state)
    {
        // Rows list their states in SessionState order (checked at start-up), so the first match is the earliest rule.
        foreach (var (refused, reply) in row.RefusedIn)
            if ((state & refused) != 0) return reply;
        return null;
    }

    private static CommandRow MailRow(SmtpVerb verb) =>
        new(verb, static async (s, c, t) => { await s.OnMailAsync((MailCommand)c, t); return AfterLine.ReadCommand; })
        {
            RefusedIn = MailSequence,
            Auth = AuthRule.OnSubmission,
        };

    private static SmtpReply BadSequence(string text) => new(503, "5.5.1", text);

    private static CommandRow?[] Index(CommandRow[] rows)
    {
        var byVerb = new CommandRow?[Enum.GetValues<SmtpVerb>().Length];
        foreach (var row in rows)
        {
            if (byVerb[(int)row.Verb] is not null) throw new InvalidOperationException($"two rows for {row.Verb}");
            for (var i = 1; i < row.RefusedIn.Length; i++)
                if (row.RefusedIn[i].State <= row.RefusedIn[i - 1].State)
                    throw new InvalidOperationException($"{row.Verb}: refused states out of SessionState order");
            byVerb[(int)row.Verb] = row;
        }
        return byVerb;
    }

    /// <summary>Every row, for tests and documentation.</summary>
    public static IEnumerable<CommandRow> All => Rows.OfType<CommandRow>();
}
