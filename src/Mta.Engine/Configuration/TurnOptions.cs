// Who may take queued mail with TURN (RFC 821) or start a queue run with ETRN (RFC 1985): the "Turn" section.
using Mta.Abstractions;

namespace Mta.Engine.Configuration;

/// <summary>
/// TURN and ETRN policy (<c>Turn</c>). Both serve sites that hold mail for another server (a backup MX, or a dial-up
/// site's relay: <c>Relay:Routes:DOMAIN:Hold</c>). TURN itself is switched on per listener
/// (<see cref="ListenerOptions.AllowTurn"/>) and only ever for an authenticated user (RFC 2645 explains why an
/// unauthenticated TURN hands anyone the mail).
/// </summary>
public sealed class TurnOptions
{
    /// <summary>AUTH user name → the domains whose queued mail that user may take with TURN or flush with ETRN.
    /// Matched case-insensitively. Defaults to none: no user may.</summary>
    public Dictionary<string, List<string>> Domains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Client networks in CIDR form (e.g. <c>192.0.2.0/24</c>) whose clients may ETRN any domain without AUTH.
    /// Defaults to none: only an authenticated user may ETRN, and only its own <see cref="Domains"/>.</summary>
    public List<string> EtrnNetworks { get; set; } = [];

    /// <summary>True when some client could use ETRN at all, so the server answers and advertises it.</summary>
    internal bool EtrnConfigured => EtrnNetworks.Count > 0 || Domains.Any(d => d.Value is { Count: > 0 });

    /// <summary>The domains <paramref name="user"/> may take, normalised (<see cref="Domain"/>); empty when none.</summary>
    internal IReadOnlyList<string> DomainsOf(string? user) =>
        user is not null && Domains.TryGetValue(user, out var list) && list is not null
            ? list.Select(d => Domain.TryParse(d, out var domain) ? domain : default).Where(d => !d.IsEmpty).Distinct().Select(d => d.Name).ToArray()
            : [];
}
