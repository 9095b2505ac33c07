// Who may send to whom, decided at RCPT: local recipients by the mailbox policy, other domains (relay) by who the client is.
using Mta.Abstractions;
using Mta.Engine.Maps;
using Mta.Protocol;

namespace Mta.Engine.Routing;

/// <summary>The facts about the client that decide relaying.</summary>
/// <param name="IsTrusted">The client is in <c>Relay:TrustedNetworks</c> (as its address was given last: socket, PROXY or XCLIENT).</param>
/// <param name="AuthenticatedUser">The user AUTH (or XCLIENT LOGIN) established; null when none.</param>
/// <param name="AcceptDomains">Domains whose mail this connection may hand in although they are not local (the domains a
/// TURN this side asked for), in a set compared with <see cref="Domain.NameComparer"/>; null for none.</param>
public readonly record struct RelayClient(bool IsTrusted, string? AuthenticatedUser, IReadOnlySet<string>? AcceptDomains = null);

/// <summary>The built-in decision on one recipient: accepted, or the reply that refuses it.</summary>
/// <param name="Reply">250 2.1.5 when accepted; otherwise the refusal, code, enhanced code and text as the client sees them.</param>
public readonly record struct RecipientDecision(SmtpReply Reply)
{
    /// <summary>True when the recipient is accepted.</summary>
    public bool IsAccepted => Reply.Code / 100 == 2;
}

/// <summary>
/// The built-in RCPT policy (the RCPT hooks run first, and their Accept or Reject overrides it; so does terminal
/// delivery for SEND, SOML and SAML). The address is first rewritten as the queue will see it (canonical map, virtual
/// aliases: <see cref="AddressRewriter"/>): an alias is accepted (its targets are the alias owner's choice), a loop is
/// refused. Then, by the domain of the rewritten address: a local domain (or none) is the mailbox policy's
/// (<see cref="LocalRecipientPolicy"/>); a virtual mailbox domain accepts its users; a virtual alias domain (one named
/// only in the alias files) accepts nothing else; a domain of a pipe transport is a final destination of this server,
/// accepted from anyone with any local part (its command decides, and may bounce with 67); a relay domain
/// (<see cref="RelayDomains"/>) accepts from anyone what its list and next hop accept. Any other domain is relaying,
/// allowed only to a trusted or authenticated client, or for a domain the connection was opened to deliver (TURN);
/// everyone else gets 554 5.7.1, so this server is never an open relay.
/// </summary>
public sealed class RecipientPolicy
{
    private static readonly RecipientDecision Accepted = new(new SmtpReply(250, "2.1.5", "Ok"));
    private readonly IReadOnlySet<string> _localDomains;
    private readonly IReadOnlySet<string> _transportDomains;
    private readonly AddressRewriter? _maps;
    private readonly RelayDomains? _relayDomains;

    /// <param name="localDomains">The local domains (compared as <see cref="Domain"/>s: no case, no trailing dot).</param>
    /// <param name="mailboxes">Which local parts of local domains have a mailbox.</param>
    /// <param name="transportDomains">The domains of the pipe transports (<c>Transports:Pipes:NAME:Domains</c>); null for none.</param>
    /// <param name="maps">Canonical and virtual maps; null for none.</param>
    /// <param name="relayDomains">The relay domains; null for none.</param>
    public RecipientPolicy(IEnumerable<string> localDomains, LocalRecipientPolicy mailboxes, IEnumerable<string>? transportDomains = null,
        AddressRewriter? maps = null, RelayDomains? relayDomains = null)
    {
        _localDomains = new HashSet<string>(localDomains, Domain.NameComparer);
        _transportDomains = new HashSet<string>(transportDomains ?? [], Domain.NameComparer);
        Mailboxes = mailboxes;
        _maps = maps;
        _relayDomains = relayDomains;
    }

    /// <summary>Which local parts of local domains have a mailbox.</summary>
    public LocalRecipientPolicy Mailboxes { get; }

    /// <summary>The address maps, when any are configured.</summary>
    public AddressRewriter? Maps => _maps;

    /// <summary>True for an address this server delivers itself: a local domain, a virtual mailbox domain, or no domain.</summary>
    public bool IsLocal(SmtpAddress address) =>
        address.Domain.Length == 0 || _localDomains.Contains(address.Domain) || (_maps?.Virtual.IsMailboxDomain(address.Domain) ?? false);

    /// <summary>The decision on <paramref name="address"/> by local domains and relay permission alone (no maps, no
    /// relay domains); <paramref name="isLocal"/> as <see cref="IsLocal"/> gave it.</summary>
    public RecipientDecision Decide(SmtpAddress address, bool isLocal, RelayClient client)
    {
        if (isLocal) return new RecipientDecision(Mailboxes.Reply(address));
        if (_transportDomains.Contains(address.Domain)) return Accepted;
        return Relaying(address, client);
    }

    /// <summary>The whole decision on <paramref name="address"/>: maps, local, virtual and relay domains, relaying.
    /// May ask a relay domain's next hop (bounded by its timeout and by <paramref name="cancellationToken"/>).</summary>
    public async ValueTask<RecipientDecision> DecideAsync(SmtpAddress address, RelayClient client, CancellationToken cancellationToken)
    {
        var target = address;
        if (_maps is { IsEmpty: false } maps)
        {
            var expansion = maps.Expand(new EnvelopeRecipient(address));
            if (expansion.Error is { } error) return new RecipientDecision(error);
            if (expansion.Aliased) return Accepted;
            target = expansion.Recipients[0].Address;
            if (maps.Virtual.IsMailboxDomain(target.Domain))
            {
                return maps.HasMailbox(target) ? Accepted : new RecipientDecision(new SmtpReply(550, "5.1.1",
                    $"{address.ToPathString()}: Recipient address rejected: User unknown in virtual mailbox table"));
            }
            if (maps.Virtual.IsAliasDomain(target.Domain))
            {
                return new RecipientDecision(new SmtpReply(550, "5.1.1",
                    $"{address.ToPathString()}: Recipient address rejected: User unknown in virtual alias table"));
            }
        }
        if (target.Domain.Length == 0 || _localDomains.Contains(target.Domain)) return new RecipientDecision(Mailboxes.Reply(target));
        if (_transportDomains.Contains(target.Domain)) return Accepted;
        if (_relayDomains is not null && _relayDomains.Contains(target.Domain))
            return new RecipientDecision(await _relayDomains.CheckAsync(target, cancellationToken).ConfigureAwait(false));
        return Relaying(target, client);
    }

    private static RecipientDecision Relaying(SmtpAddress address, RelayClient client)
    {
        if (client.IsTrusted || client.AuthenticatedUser is not null) return Accepted;
        if (client.AcceptDomains is not null && client.AcceptDomains.Contains(address.Domain)) return Accepted;
        return new RecipientDecision(new SmtpReply(554, "5.7.1", $"{address.ToPathString()}: Relay access denied"));
    }
}
