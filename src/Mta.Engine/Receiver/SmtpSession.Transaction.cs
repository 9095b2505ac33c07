// MAIL (and SEND, SOML, SAML), RCPT and DATA: a mail transaction up to the 354.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>MAIL, SEND, SOML, SAML once the table allowed them (greeted, no transaction, AUTH on submission).</summary>
    internal async ValueTask OnMailAsync(MailCommand mail, CancellationToken aborted)
    {
        if (_role == ListenerRole.Submission && SubmissionRefusal(mail.ReversePath) is { } refusal)
        {
            Reply(refusal);
            return;
        }
        var p = mail.Parameters;
        if (p.Size is { } declared && declared > _ctx.Options.Limits.MaxMessageSize)
        {
            Reply(new SmtpReply(552, "5.3.4", $"Message size exceeds fixed limit of {_ctx.Options.Limits.MaxMessageSize} octets"));
            return;
        }
        var kind = mail.Verb switch
        {
            SmtpVerb.Send => TransactionKind.Send,
            SmtpVerb.Soml => TransactionKind.SendOrMail,
            SmtpVerb.Saml => TransactionKind.SendAndMail,
            _ => TransactionKind.Mail,
        };
        if (p.Body == BodyType.BinaryMime && !OffersChunking)
        {
            Reply(new SmtpReply(555, "5.5.4", "BODY=BINARYMIME not available here (BINARYMIME and CHUNKING are not offered)"));
            return;
        }
        var transaction = new Transaction(kind, mail.ReversePath, p.Raw, p.SmtpUtf8) { Binary = p.Body == BodyType.BinaryMime };
        var outcome = await Hooks.RunAsync(new MailContext(this, transaction), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return;
        }
        // With terminal delivery on, SEND/SOML/SAML open a transaction as MAIL does; without it only a hook's Accept can.
        if (kind != TransactionKind.Mail && !_ctx.TerminalsEnabled && outcome.Result.Decision != HookDecision.Accept)
        {
            Reply(new SmtpReply(502, "5.5.1", $"{mail.Verb.ToString().ToUpperInvariant()} not available: no terminal delivery is configured"));
            return;
        }
        if (_milters is not null)
        {
            // From MAIL on the message has its queue id, so milters get the i macro as Postfix gives it.
            transaction.QueueId = Spool.QueueIds.Next();
            _transaction = transaction;
            var milter = await _milters.MailAsync(MilterArguments(mail.ReversePath, p.Raw), aborted);
            if (MilterRefusal(milter) is { } milterRefusal)
            {
                EndTransaction();
                Reply(milterRefusal);
                return;
            }
            if (milter.Answer.Verdict == Milter.MilterVerdict.Discard) transaction.DiscardedBy = milter.Milter;
        }
        _transaction = transaction;
        Reply(FromHook(outcome, Ok));
    }

    /// <summary>RCPT inside a transaction (the table refuses it outside one).</summary>
    internal async ValueTask OnRcptAsync(RcptCommand rcpt, CancellationToken aborted)
    {
        var tx = _transaction!;
        var recipient = new EnvelopeRecipient(rcpt.ForwardPath, rcpt.Parameters.Notify, rcpt.Parameters.OriginalRecipient);
        var address = rcpt.ForwardPath;
        if (tx.Recipients.Count >= _ctx.Options.Limits.MaxRecipients)
        {
            // RFC 5321 4.5.3.1.10: 452 asks the client to send the rest in another transaction.
            Reply(new SmtpReply(452, "4.5.3", "Too many recipients"));
            tx.RejectedRecipients++;
            return;
        }
        var isLocal = _ctx.Recipients.IsLocal(address);
        var outcome = await Hooks.RunAsync(new RcptContext(this, tx, recipient, isLocal), aborted);
        SmtpReply reply;
        if (IsRefusal(outcome))
        {
            reply = FromHook(outcome, null);
        }
        else if (outcome.Result.Decision == HookDecision.Accept)
        {
            reply = FromHook(outcome, new SmtpReply(250, "2.1.5", "Ok"));
        }
        else if (tx.Kind != TransactionKind.Mail)
        {
            reply = await TerminalRecipientCheckAsync(tx.Kind, address, isLocal, aborted);
        }
        else
        {
            reply = await BuiltInRecipientCheckAsync(address, aborted);
        }
        // Milters see only the recipients the server accepted (Postfix's order: smtpd restrictions, then milters).
        if (reply.Code / 100 == 2 && _milters is not null)
        {
            _milterRecipient = recipient;
            var milter = await _milters.RcptAsync(MilterArguments(address, rcpt.Parameters.Raw), aborted);
            _milterRecipient = null;
            if (MilterRefusal(milter) is { } milterRefusal) reply = milterRefusal;
            else if (milter.Answer.Verdict == Milter.MilterVerdict.Discard) tx.DiscardedBy = milter.Milter;
        }
        else if (reply.Code / 100 != 2 && _milters is not null)
        {
            // A milter that asked for refused recipients (SMFIP_RCPT_REJ) sees them with the refusal in the rcpt macros.
            _milterRecipient = recipient;
            _milterRecipientRefusal = reply;
            await _milters.RejectedRcptAsync(MilterArguments(address, rcpt.Parameters.Raw), aborted);
            _milterRecipient = null;
            _milterRecipientRefusal = null;
        }
        if (reply.Code / 100 == 2) tx.AddRecipient(recipient);
        else tx.RejectedRecipients++;
        Reply(reply);
    }

    /// <summary>The router side's decision (Routing/RecipientPolicy): maps, local and virtual mailboxes, relay domains
    /// (perhaps asking their next hop, bounded), or relaying for this client.</summary>
    private async ValueTask<SmtpReply> BuiltInRecipientCheckAsync(SmtpAddress address, CancellationToken aborted) =>
        (await _ctx.Recipients.DecideAsync(address, new RelayClient(IsTrustedClient, AuthenticatedUser, _acceptDomains), aborted)).Reply;

    /// <summary>The milters' DATA stage (for DATA and the first BDAT): their refusal, or null.</summary>
    private async ValueTask<SmtpReply?> MilterDataRefusalAsync(Transaction tx, CancellationToken aborted)
    {
        if (_milters is null) return null;
        var milter = await _milters.DataAsync(aborted);
        if (milter.Answer.Verdict == Milter.MilterVerdict.Discard) tx.DiscardedBy = milter.Milter;
        return MilterRefusal(milter);
    }

    /// <summary>DATA in a transaction with recipients and no BDAT (the table's rules); true when the 354 went out.</summary>
    internal async ValueTask<bool> OnDataAsync(CancellationToken aborted)
    {
        var tx = _transaction!;
        var outcome = await Hooks.RunAsync(new DataContext(this, tx), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return false;
        }
        if (await MilterDataRefusalAsync(tx, aborted) is { } milterRefusal)
        {
            Reply(milterRefusal);
            return false;
        }
        Reply(new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>"));
        return true;
    }
}
