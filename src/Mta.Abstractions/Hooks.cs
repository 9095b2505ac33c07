// The hook contract: one context type per SMTP event, one handler interface, one registrar.
namespace Mta.Abstractions;

/// <summary>
/// A handler for one hook. The context type names the event (for example <see cref="RcptContext"/>
/// for RCPT TO). Return <see cref="HookResult.Continue"/> to let others decide. A handler that throws
/// or overruns its time budget answers the client <c>451 4.3.0</c> and is logged by name; it never
/// takes the session down. Honour the cancellation token: it fires when the budget runs out or the
/// client goes away.
/// </summary>
/// <typeparam name="TContext">The event's context type.</typeparam>
public interface IHook<in TContext> where TContext : HookContext
{
    /// <summary>Decides on the event.</summary>
    ValueTask<HookResult> InvokeAsync(TContext context, CancellationToken cancellationToken);
}

/// <summary>Where plugins (and, through them, scripts) add their handlers.</summary>
public interface IHookRegistrar
{
    /// <summary>Adds a handler after those already registered for the same event.</summary>
    /// <param name="name">The name used in logs and error replies' log lines, e.g. <c>greylist</c>.</param>
    /// <param name="hook">The handler.</param>
    void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext;

    /// <summary>Adds a handler given as a delegate.</summary>
    void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext;
}

/// <summary>Base of every hook context.</summary>
public abstract record HookContext;

/// <summary>Base of the receiving side's contexts: the SMTP session the event happened in.</summary>
public abstract record SessionContext(ISessionInfo Session) : HookContext;

/// <summary>A client connected; runs before the 220 greeting. Reject or Disconnect refuses the connection.</summary>
public sealed record ConnectContext(ISessionInfo Session) : SessionContext(Session);

/// <summary>HELO (RFC 821). <see cref="Domain"/> is the argument as given.</summary>
public sealed record HeloContext(ISessionInfo Session, string Domain) : SessionContext(Session);

/// <summary>EHLO (RFC 5321). <see cref="Domain"/> is the argument as given.</summary>
public sealed record EhloContext(ISessionInfo Session, string Domain) : SessionContext(Session);

/// <summary>AUTH (RFC 4954): a client offered credentials. Accept authenticates the user; Reject gives 535.</summary>
/// <param name="Session">The session.</param>
/// <param name="Mechanism">PLAIN or LOGIN.</param>
/// <param name="UserName">The authentication identity.</param>
/// <param name="Password">The password as sent. Never log it.</param>
public sealed record AuthContext(ISessionInfo Session, string Mechanism, string UserName, string Password) : SessionContext(Session);

/// <summary>MAIL, SEND, SOML or SAML FROM, after syntax checks; <see cref="ITransaction.Kind"/> says which.
/// SEND, SOML and SAML are accepted when terminal delivery is on (<c>Terminal:Enabled</c>), else they get 502 unless a
/// handler accepts them. A handler may refuse any of them.</summary>
public sealed record MailContext(ISessionInfo Session, ITransaction Transaction) : SessionContext(Session);

/// <summary>RCPT TO, after syntax checks and before the built-in local-user and relay checks.</summary>
/// <param name="Session">The session.</param>
/// <param name="Transaction">The transaction; <see cref="Recipient"/> is not yet in its recipients.</param>
/// <param name="Recipient">The recipient asked for.</param>
/// <param name="IsLocalDomain">True when the domain is one of the configured local domains.</param>
public sealed record RcptContext(ISessionInfo Session, ITransaction Transaction, EnvelopeRecipient Recipient, bool IsLocalDomain) : SessionContext(Session);

/// <summary>The DATA command, before the 354 reply.</summary>
public sealed record DataContext(ISessionInfo Session, ITransaction Transaction) : SessionContext(Session);

/// <summary>The whole message has been received (after the final dot), before it is queued.</summary>
public sealed record DataPostContext(ISessionInfo Session, ITransaction Transaction, IMessageContent Message) : SessionContext(Session);

/// <summary>
/// The message is about to be written to the durable queue. Continue queues it as usual; Accept means
/// the handler has taken the message itself (it is not queued and the client gets 250 with the
/// handler's text); Reject or Defer refuse it.
/// </summary>
public sealed record QueueContext(ISessionInfo Session, ITransaction Transaction, IMessageContent Message) : SessionContext(Session);

/// <summary>VRFY. Accept with code 250 or 251 and a text to answer; without a decision the server says 252.</summary>
public sealed record VrfyContext(ISessionInfo Session, string Argument) : SessionContext(Session);

/// <summary>EXPN. Accept with a text whose lines (separated by newlines) become a multi-line 250; default 252.</summary>
public sealed record ExpnContext(ISessionInfo Session, string Argument) : SessionContext(Session);

/// <summary>HELP, with the optional topic. Accept with a text (lines separated by newlines) to answer 214.</summary>
public sealed record HelpContext(ISessionInfo Session, string? Topic) : SessionContext(Session);

/// <summary>NOOP.</summary>
public sealed record NoopContext(ISessionInfo Session) : SessionContext(Session);

/// <summary>RSET, before the transaction is discarded.</summary>
public sealed record RsetContext(ISessionInfo Session) : SessionContext(Session);

/// <summary>QUIT, before the 221 reply.</summary>
public sealed record QuitContext(ISessionInfo Session) : SessionContext(Session);

/// <summary>TURN (RFC 821), from an authenticated user on a listener with <c>AllowTurn</c> who holds domains in
/// <c>Turn:Domains</c>, before the server turns around. A handler can only veto (Reject, Defer, Disconnect); an
/// Accept does not skip the built-in checks. Elsewhere TURN gets 502 without the hook being asked.</summary>
public sealed record TurnContext(ISessionInfo Session) : SessionContext(Session);

/// <summary>A command line whose verb the server does not know. Without a decision the server answers 500.</summary>
/// <param name="Session">The session.</param>
/// <param name="Verb">The first word of the line, upper-cased.</param>
/// <param name="Line">The whole line without CRLF.</param>
public sealed record UnrecognizedCommandContext(ISessionInfo Session, string Verb, string Line) : SessionContext(Session);

/// <summary>The connection has closed. Observe only: the result is ignored.</summary>
/// <param name="Session">The session.</param>
/// <param name="Reason">Why it closed, e.g. <c>quit</c>, <c>timeout</c>, <c>client closed</c>.</param>
public sealed record DisconnectContext(ISessionInfo Session, string Reason) : SessionContext(Session);
