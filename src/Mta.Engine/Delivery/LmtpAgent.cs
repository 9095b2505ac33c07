// The LMTP delivery agent (RFC 2033): a request's recipients in one transaction to the configured LMTP server, one outcome each.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;

namespace Mta.Engine.Delivery;

/// <summary>
/// Hands local mailboxes to an LMTP server (<see cref="LmtpOptions"/>), as Postfix's lmtp(8) does for Dovecot: one
/// connection and one transaction per request, over the SMTP client in its LMTP mode (LHLO, and one reply per
/// accepted recipient after the message). Each recipient's reply decides it: 2xx delivered, 4xx deferred, 5xx failed.
/// A server that cannot be reached defers every recipient with <c>4.4.1</c>; a session that breaks later with
/// <c>4.4.2</c>. Never throws but for cancellation.
/// </summary>
internal sealed partial class LmtpAgent(MtaOptions options, ILogger<LmtpAgent> logger) : IDeliveryAgent
{
    private readonly SmtpTarget _target = TargetOf(options.Mailboxes.Lmtp);
    // No TLS or AUTH: an LMTP server is on this host or a trusted network, as Postfix's lmtp defaults assume.
    private readonly ConnectionSettings _settings = new(options.HostName, OutboundTlsPolicy.None, null, null, options.Relay.Timeouts, Lmtp: true);

    public async ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var connection = await SmtpClientConnection.OpenAsync(_target, _settings, logger, cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.SendAsync(SmtpDeliveryAgent.BuildEnvelope(request), request.Message.Content, cancellationToken)
                    .ConfigureAwait(false);
                var result = SmtpDeliveryAgent.FromTransaction(transaction, _target.ToString());
                // The LMTP server is the final delivery: "delivered", not "relayed", whatever it says about DSN.
                return new DeliveryResult(result.Recipients.Select(o => o with { Notice = SuccessNotice.Delivered }).ToArray());
            }
        }
        catch (SmtpSessionException ex)
        {
            LogFailed(request.Message.QueueId, _target.ToString(), ex.Message);
            var code = SmtpDeliveryAgent.SessionStatus(ex);
            return request.ForAll(new DeliveryOutcome(DeliveryStatus.Deferred, code, code + " " + ex.Message)
            {
                RemoteReply = ex.Reply is { } reply ? SmtpDeliveryAgent.ReplyText(reply) : null,
                RemoteHost = _target.ToString(),
            });
        }
    }

    private static SmtpTarget TargetOf(LmtpOptions lmtp)
    {
        if (lmtp.SocketPath is { Length: > 0 } path) return SmtpTarget.Unix(path);
        if (lmtp.TryGetTcpEndpoint(out var endPoint)) return new SmtpTarget(endPoint.Address.ToString(), endPoint.Address, endPoint.Port);
        throw new InvalidOperationException($"Mailboxes:Lmtp:Endpoint '{lmtp.Endpoint}' is neither unix:/path nor address:port");
    }

    [LoggerMessage(EventId = LogEvents.Queue.LmtpFailed, Level = LogLevel.Information, Message = "{QueueId}: LMTP session with {Target} failed: {Error}")]
    private partial void LogFailed(string queueId, string target, string error);
}
