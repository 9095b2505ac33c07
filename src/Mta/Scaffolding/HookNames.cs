// The hook names operators type (`mta new script rcpt ...`) and the context type each stands for.
using Mta.Abstractions;

namespace Mta.Scaffolding;

public static class HookNames
{
    /// <summary>Hook name -> (context type, one-line meaning), in the order an SMTP session meets them.</summary>
    public static readonly IReadOnlyList<(string Name, Type Context, string Meaning)> All =
    [
        ("connect", typeof(ConnectContext), "a client connected, before the 220 greeting"),
        ("helo", typeof(HeloContext), "HELO"),
        ("ehlo", typeof(EhloContext), "EHLO"),
        ("auth", typeof(AuthContext), "AUTH credentials offered"),
        ("mail", typeof(MailContext), "MAIL/SEND/SOML/SAML FROM"),
        ("rcpt", typeof(RcptContext), "RCPT TO"),
        ("data", typeof(DataContext), "DATA, before 354"),
        ("data_post", typeof(DataPostContext), "the whole message received"),
        ("queue", typeof(QueueContext), "about to be queued"),
        ("vrfy", typeof(VrfyContext), "VRFY"),
        ("expn", typeof(ExpnContext), "EXPN"),
        ("help", typeof(HelpContext), "HELP"),
        ("noop", typeof(NoopContext), "NOOP"),
        ("rset", typeof(RsetContext), "RSET"),
        ("quit", typeof(QuitContext), "QUIT"),
        ("turn", typeof(TurnContext), "TURN"),
        ("unrecognized", typeof(UnrecognizedCommandContext), "an unknown command"),
        ("disconnect", typeof(DisconnectContext), "the connection closed (observe only)"),
        ("route", typeof(RouteContext), "choose where a queued recipient goes"),
        ("deliver", typeof(DeliverContext), "about to deliver a recipient's copy"),
        ("delivered", typeof(DeliveredContext), "a copy was delivered (observe only)"),
        ("deferred", typeof(DeferredContext), "a delivery failed temporarily (observe only)"),
        ("bounced", typeof(BouncedContext), "a delivery failed permanently (observe only)"),
    ];

    public static bool TryGet(string name, out Type context)
    {
        var match = All.FirstOrDefault(h => string.Equals(h.Name, name.Replace('-', '_'), StringComparison.OrdinalIgnoreCase));
        context = match.Context!;
        return match.Context is not null;
    }
}
