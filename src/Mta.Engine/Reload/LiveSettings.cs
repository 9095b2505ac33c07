// The settings a reload applies at once (LocalDomains, Mailboxes users, Relay:TrustedNetworks), as one snapshot swapped whole.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;
using Mta.Engine.Routing;

namespace Mta.Engine.Reload;

/// <summary>
/// The recipient and relay settings sessions and deliveries read, rebuilt from each new configuration. Readers take
/// <see cref="Current"/> once per decision, so a decision never mixes an old and a new setting; sessions under way keep
/// what they read (a client's trust is decided at connect), new sessions and RCPT commands see the new one.
/// </summary>
public sealed class LiveSettings : IReloadable
{
    private volatile Snapshot _current;
    // Transports need a restart (their agent holds the commands it started with), so their domains stay those of the start.
    private readonly IReadOnlyCollection<string> _transportDomains;
    private readonly Maps.AliasTable? _aliases;
    private readonly Maps.AddressRewriter? _maps;
    private readonly RelayDomains? _relayDomains;

    /// <summary>Built from the options the server starts with.</summary>
    /// <param name="options">The configuration the server starts with.</param>
    /// <param name="aliases">The alias table whose names are local recipients too; null for none.</param>
    /// <param name="maps">The canonical and virtual maps RCPT rewrites with; null for none.</param>
    /// <param name="relayDomains">The relay domains; null for none.</param>
    /// <remarks>The alias table, maps and relay domains are reloadables themselves: a reload swaps their contents in
    /// place, so every snapshot shares them.</remarks>
    public LiveSettings(MtaOptions options, Maps.AliasTable? aliases = null, Maps.AddressRewriter? maps = null,
        RelayDomains? relayDomains = null)
    {
        _transportDomains = Router.TransportDomains(options).Keys;
        _aliases = aliases;
        _maps = maps;
        _relayDomains = relayDomains;
        _current = Build(options);
    }

    /// <summary>The settings in service.</summary>
    public Snapshot Current => _current;

    /// <inheritdoc />
    public string Name => "LocalDomains, Mailboxes:Users, Relay:TrustedNetworks";

    /// <inheritdoc />
    public void Reload(MtaOptions options) => _current = Build(options);

    private Snapshot Build(MtaOptions options)
    {
        var localDomains = new HashSet<string>(options.LocalDomains, Domain.NameComparer);
        return new Snapshot(new TrustedNetworks(options), localDomains,
            new RecipientPolicy(localDomains, new LocalRecipientPolicy(options.Mailboxes, aliases: _aliases), _transportDomains, _maps, _relayDomains));
    }

    /// <summary>One immutable set of the live settings.</summary>
    /// <param name="TrustedNetworks">Parsed <c>Relay:TrustedNetworks</c>.</param>
    /// <param name="LocalDomains"><c>LocalDomains</c>, compared as domain names; never changed after it is built.</param>
    /// <param name="Recipients">The built-in RCPT decision over these local domains and <c>Mailboxes</c>.</param>
    public sealed record Snapshot(TrustedNetworks TrustedNetworks, IReadOnlySet<string> LocalDomains, RecipientPolicy Recipients);
}
