// XCLIENT (Postfix XCLIENT_README): a client in XClient:Networks speaks for another, and the session becomes that client's.
using System.Net;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Extensibility;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    private readonly bool _xclientAllowed;
    // XCLIENT NAME: the client's host name, for the Received field; null when not given or unknown.
    private string? _clientName;
    // XCLIENT ADDR=[UNAVAILABLE]: RemoteEndPoint then holds 0.0.0.0, which must never count as a trusted network.
    private bool _clientAddressUnknown;

    /// <summary>
    /// Applies XCLIENT as Postfix does: the given attributes replace the session's facts, the session goes back to the
    /// state after the greeting (HELO, PROTO and LOGIN are kept only when this command gave them), the connect hook runs
    /// again on the new facts, and a new 220 greeting follows. Trusted-network status is worked out anew from ADDR.
    /// </summary>
    internal async ValueTask OnXClientAsync(XClientCommand command, CancellationToken aborted)
    {
        // From XClient:Networks, no transaction: the table checked.

        var address = RemoteEndPoint.Address;
        var port = RemoteEndPoint.Port;
        var localAddress = LocalEndPoint.Address;
        var localPort = LocalEndPoint.Port;
        var addressKnown = !_clientAddressUnknown;
        string? helo = null, login = null;
        bool gotHelo = false, gotLogin = false, extended = false;
        foreach (var attribute in command.Attributes)
        {
            var value = attribute.Value;
            switch (attribute.Name)
            {
                case "ADDR":
                    // An unknown address can match no network: it is never trusted, whatever the configuration says.
                    addressKnown = value is not null;
                    address = value is not null && XClientAttribute.TryParseAddress(value, out var a) ? a : IPAddress.Any;
                    break;
                case "PORT":
                    port = value is null ? 0 : int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "DESTADDR":
                    localAddress = value is not null && XClientAttribute.TryParseAddress(value, out var d) ? d : IPAddress.Any;
                    break;
                case "DESTPORT":
                    localPort = value is null ? 0 : int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                    break;
                case "NAME":
                    _clientName = value?.ToLowerInvariant();
                    break;
                case "HELO":
                    gotHelo = true;
                    helo = value;
                    break;
                case "PROTO":
                    extended = value == "ESMTP";
                    break;
                case "LOGIN":
                    gotLogin = true;
                    login = value;
                    break;
                // REVERSE_NAME is taken so that Postfix clients work, but Mta has no use for it.
            }
        }

        var before = RemoteEndPoint;
        RemoteEndPoint = ClientAddress.Canonical(new IPEndPoint(address, port));
        LocalEndPoint = ClientAddress.Canonical(new IPEndPoint(localAddress, localPort));
        _clientAddressUnknown = !addressKnown;
        IsTrustedClient = addressKnown && _ctx.TrustedNetworks.Contains(RemoteEndPoint.Address);
        EndTransaction();
        HeloName = gotHelo ? helo : null;
        IsExtended = gotHelo && extended;
        _authenticatedUser = gotLogin ? login : null;
        _pendingAuth = null;
        LogXClient(SessionId, before, addressKnown ? RemoteEndPoint.ToString() : "unknown", _clientName ?? "-", HeloName ?? "-",
            _authenticatedUser ?? "-", IsTrustedClient);

        // Postfix: "Depending on the outcome of optional access decisions, the server responds with 220 or with a
        // suitable rejection code": the connect decision is taken again, for the client XCLIENT named.
        var outcome = await Hooks.RunAsync(new ConnectContext(this), aborted);
        if (!outcome.IsContinue && outcome.Result.Decision != HookDecision.Accept)
        {
            Reply(FromHook(outcome, new SmtpReply(554, "5.7.1", "Connection refused")), countError: false);
            _closing = true;
            _closeReason = "refused by " + outcome.HandlerName;
            return;
        }
        // Postfix ends the milters' session and starts another for the client XCLIENT named, so they see its connect.
        await StopMiltersAsync();
        Reply(await StartMiltersAsync(aborted) ?? new SmtpReply(220, null, $"{HostName} ESMTP Mta"), countError: false);
    }

    /// <summary>A client outside <c>XClient:Networks</c> tried XCLIENT: worth a warning.</summary>
    internal void OnXClientRefused(SmtpReply refusal)
    {
        if (!_xclientAllowed) LogXClientRefused(SessionId, RemoteEndPoint);
    }

    [LoggerMessage(EventId = LogEvents.Receiver.XClientRefused, Level = LogLevel.Warning, Message = "session={SessionId} XCLIENT refused: {Remote} is not in XClient:Networks")]
    private partial void LogXClientRefused(string sessionId, IPEndPoint remote);

    [LoggerMessage(EventId = LogEvents.Receiver.XClient, Level = LogLevel.Information, Message = "session={SessionId} XCLIENT from {Before}: client={Client} name={Name} helo={Helo} user={User} trusted={Trusted}")]
    private partial void LogXClient(string sessionId, IPEndPoint before, string client, string name, string helo, string user, bool trusted);
}
