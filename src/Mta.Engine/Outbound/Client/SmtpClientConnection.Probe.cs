// Recipient verification on an open connection: MAIL FROM:<>, RCPT TO, RSET, nothing sent (a callout, Postfix's verify).
using Mta.Abstractions;
using Mta.Protocol;
using Mta.Protocol.Client;

namespace Mta.Engine.Outbound.Client;

public sealed partial class SmtpClientConnection
{
    /// <summary>
    /// Asks the server whether it would take mail for <paramref name="recipient"/>: <c>MAIL FROM:&lt;&gt;</c> (so a
    /// refusal cannot bounce anywhere) and <c>RCPT TO</c>, then RSET so no message follows. Returns the RCPT reply, or
    /// the MAIL reply when MAIL was refused.
    /// </summary>
    /// <exception cref="SmtpSessionException">The connection failed, timed out or sent a malformed reply.</exception>
    /// <exception cref="InvalidOperationException">The connection is not <see cref="IsUsable"/>.</exception>
    public async Task<(SmtpReply Reply, bool MailRefused)> ProbeRecipientAsync(SmtpAddress recipient, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_state != State.Open) throw new InvalidOperationException($"The connection to {_host} is not usable.");
        EnsureInStep();
        var timeouts = _settings.Timeouts;
        TransactionCount++;
        _transactionStarted = true;
        Append(ClientCommands.MailFrom(SmtpAddress.Null, Capabilities));
        await FlushAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
        var mail = await ReadReplyAsync(SessionStage.Mail, timeouts.Mail, ct).ConfigureAwait(false);
        if (!IsSuccess(mail))
        {
            await ResetQuietlyAsync(ct).ConfigureAwait(false);
            return (mail, true);
        }
        Append(ClientCommands.RcptTo(recipient, Capabilities));
        await FlushAsync(SessionStage.Rcpt, timeouts.Rcpt, ct).ConfigureAwait(false);
        var rcpt = await ReadReplyAsync(SessionStage.Rcpt, timeouts.Rcpt, ct).ConfigureAwait(false);
        await ResetQuietlyAsync(ct).ConfigureAwait(false);
        return (rcpt, false);
    }
}
