// The server's view of terminal delivery (SEND, SOML, SAML): every registered sink behind one question and one action.
using Mta.Abstractions;

namespace Mta.Engine.Terminal;

/// <summary>
/// All terminal sinks (built-in and from plugins) as one: the receiver asks <see cref="IsActiveAsync"/> at RCPT of a
/// SEND, and the queue manager delivers with <see cref="DeliverAsync"/>.
/// </summary>
public interface ITerminals
{
    /// <summary>True when terminal delivery is on (config <c>Terminal:Enabled</c>): SEND, SOML and SAML are accepted and advertised.</summary>
    bool Enabled { get; }

    /// <summary>True when some sink can show <paramref name="user"/> a message now.</summary>
    ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken);

    /// <summary>Shows the message on every sink where the user is active; true when at least one showed it.</summary>
    ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken);
}
