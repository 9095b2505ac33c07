// Mail authentication at the end of DATA: forged fields removed, checks run, DMARC policy applied, outgoing mail signed.
using System.Buffers;
using System.Text;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Authentication;
using Microsoft.Extensions.Logging;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>Mail from clients that relay through this server (authenticated, or in a trusted network) is signed;
    /// mail from everyone else is verified. Checking the site's own outgoing mail would only cost DNS queries.</summary>
    private bool IsOutgoing => AuthenticatedUser is not null || IsTrustedClient;

    /// <summary>Removes incoming fields that claim the server's authserv-id or its quarantine mark (RFC 8601 5), from
    /// every message whoever sent it. Only the header section (<paramref name="head"/>, the message's first octets) is read
    /// and rewritten, which is rare; a spilled body stays where it is on disk.</summary>
    private void RemoveForgedFields(ReadOnlySequence<byte> head)
    {
        var forged = ForgedFields.Find(head, _ctx.AuthServId);
        if (forged.Count == 0) return;
        var end = forged[^1].Offset + forged[^1].Length;
        _body.ReplaceHead(ForgedFields.Remove(head.Slice(0, end), forged), end);
        LogForgedFieldsRemoved(SessionId, forged.Count);
    }

    /// <summary>Runs the checks on incoming mail and puts their results on the transaction; returns the
    /// <c>Authentication-Results:</c> value to add (null when nothing was checked), or the refusal when the checks
    /// themselves broke: 451, as for a failing hook, so a bug defers mail rather than letting it in unchecked.</summary>
    private async ValueTask<(string? Field, SmtpReply? Failure)> VerifyAsync(Transaction tx, IMessageContent received, CancellationToken aborted)
    {
        if (_ctx.Authenticator is not { Enabled: true } authenticator || IsOutgoing) return (null, null);
        try
        {
            tx.Authentication = await authenticator.VerifyAsync(RemoteEndPoint.Address, HeloName, tx.ReversePath, received, aborted);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogVerificationFailed(ex, SessionId);
            return (null, new SmtpReply(451, "4.3.0", "Local error in processing (message authentication), try again later"));
        }
        return (AuthenticationResultsField.Build(tx.Authentication, authenticator.ChecksDkim), null);
    }

    /// <summary>The DMARC policy of the author's domain, when the operator enforces it (<c>Authentication:Dmarc:Enforce</c>):
    /// a refusal for <c>p=reject</c>, or a quarantine mark for <c>p=quarantine</c>. Runs after the data_post hooks, so a
    /// handler that accepts the message overrides it (RFC 7489 6.7 leaves the final say to local policy).</summary>
    private (SmtpReply? Refusal, bool Quarantine) ApplyDmarcPolicy(Transaction tx)
    {
        if (!_ctx.Options.Authentication.Dmarc.Enforce || tx.Authentication?.Dmarc is not { Result: DmarcResult.Fail } dmarc)
            return (null, false);
        switch (dmarc.Disposition)
        {
            case DmarcPolicy.Reject:
                LogDmarcRejected(SessionId, dmarc.FromDomain);
                return (new SmtpReply(550, "5.7.1", $"Message rejected: the DMARC policy of {dmarc.FromDomain} refuses mail that fails authentication"), false);
            case DmarcPolicy.Quarantine:
                LogDmarcQuarantined(SessionId, dmarc.FromDomain);
                return (null, true);
            default:
                return (null, false);
        }
    }

    /// <summary>DKIM-Signature fields for outgoing mail whose <c>From:</c> domain has a signing key; the last change
    /// before the message is queued, so the signature covers the header exactly as it leaves.</summary>
    private async ValueTask<string?> SignAsync(byte[] prefix, CancellationToken aborted)
    {
        if (_ctx.Signer is not { } signer || !IsOutgoing) return null;
        HeaderList headers;
        try
        {
            await using var stream = _body.OpenRead(prefix);
            headers = await HeaderList.LoadAsync(stream, aborted);
        }
        catch (FormatException)
        {
            return null; // no parsable header, so no From domain to sign for
        }
        // One author domain, or nothing to sign for: several would each claim the message (RFC 7489 6.6.1).
        var domains = InboundAuthenticator.FromDomains(headers).Distinct(Domain.NameComparer).ToList();
        if (domains.Count != 1 || !signer.CanSign(domains[0])) return null;
        var domain = domains[0];
        IReadOnlyList<string> fields;
        if (_body.InMemory(prefix) is { } message)
        {
            fields = signer.CreateSignatureFields(domain, message.IsSingleSegment ? message.First : BuffersExtensions.ToArray(message));
        }
        else
        {
            // A spilled message is signed from its file: MimeKit reads the body through a stream for the body hash.
            var window = prefix.Length + _ctx.Options.Limits.MaxHeaderBytes + 2;
            fields = signer.CreateSignatureFields(domain, () => _body.OpenRead(prefix), window);
        }
        if (fields.Count == 0) return null;
        LogSigned(SessionId, domain, fields.Count);
        return string.Concat(fields);
    }

    [LoggerMessage(EventId = LogEvents.Authentication.ForgedFieldsRemoved, Level = LogLevel.Information, Message = "{SessionId}: removed {Count} incoming header field(s) claiming this server's authserv-id or quarantine mark")]
    private partial void LogForgedFieldsRemoved(string sessionId, int count);

    [LoggerMessage(EventId = LogEvents.Authentication.VerificationFailed, Level = LogLevel.Error, Message = "{SessionId}: message authentication failed unexpectedly; the message is deferred")]
    private partial void LogVerificationFailed(Exception exception, string sessionId);

    [LoggerMessage(EventId = LogEvents.Authentication.DmarcRejected, Level = LogLevel.Information, Message = "{SessionId}: message refused by the DMARC policy of {Domain}")]
    private partial void LogDmarcRejected(string sessionId, string domain);

    [LoggerMessage(EventId = LogEvents.Authentication.DmarcQuarantined, Level = LogLevel.Information, Message = "{SessionId}: message quarantined by the DMARC policy of {Domain}")]
    private partial void LogDmarcQuarantined(string sessionId, string domain);

    [LoggerMessage(EventId = LogEvents.Authentication.DkimSignedIncoming, Level = LogLevel.Debug, Message = "{SessionId}: DKIM-signed for {Domain} ({Count} signature(s))")]
    private partial void LogSigned(string sessionId, string domain, int count);
}
