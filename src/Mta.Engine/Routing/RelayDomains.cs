// Relay domains (Relay:Domains): accepted from any client and forwarded, recipients checked by list or by the next hop.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Maps;
using Mta.Protocol;

namespace Mta.Engine.Routing;

/// <summary>
/// The domains this server relays for whoever sends (a backup MX, a mail gateway), as Postfix's <c>relay_domains</c>
/// with <c>relay_recipient_maps</c> and <c>reject_unverified_recipient</c>: a recipient is accepted when the domain's
/// <c>RecipientsFile</c> (if any) lists it and, with <c>VerifyWithNextHop</c>, the next hop accepts it. Delivery is
/// the ordinary remote route (<c>Relay:Routes</c> or MX). A domain's subdomains are not relay domains unless listed.
/// </summary>
public sealed class RelayDomains : IReloadable, IDisposable
{
    private static readonly SmtpReply Accepted = new(250, "2.1.5", "Ok");
    private readonly MtaPaths _paths;
    private readonly ILogger _logger;
    private readonly bool _watch;
    private readonly RecipientVerifier? _verifier;
    private State _state;

    /// <param name="options">The configuration.</param>
    /// <param name="paths">Resolves the recipients files' paths.</param>
    /// <param name="logger">Where reloads are logged.</param>
    /// <param name="verifier">Asks next hops about recipients; null refuses nothing by verification (for checks and tests).</param>
    /// <param name="watch">Watch the files for changes.</param>
    /// <exception cref="StartupException">A recipients file is missing or does not parse.</exception>
    public RelayDomains(MtaOptions options, MtaPaths paths, ILogger<RelayDomains> logger, RecipientVerifier? verifier = null, bool watch = true)
    {
        _paths = paths;
        _logger = logger;
        _verifier = verifier;
        _watch = watch;
        _state = Build(options);
    }

    /// <inheritdoc />
    public string Name => "relay domains";

    /// <summary>True when no relay domain is configured.</summary>
    public bool IsEmpty => Volatile.Read(ref _state).Domains.Count == 0;

    /// <inheritdoc />
    public void Reload(MtaOptions options)
    {
        Interlocked.Exchange(ref _state, Build(options)).Dispose();
        _verifier?.Reload(options);
    }

    /// <summary>Problems <c>mta check</c> reports: every recipients file is read and parsed as <c>mta run</c> would.</summary>
    public static IReadOnlyList<string> Check(MtaOptions options, MtaPaths paths)
    {
        try
        {
            using var relay = new RelayDomains(options, paths, Microsoft.Extensions.Logging.Abstractions.NullLogger<RelayDomains>.Instance, watch: false);
            return [];
        }
        catch (StartupException ex)
        {
            return [ex.Message];
        }
    }

    /// <summary>True when <paramref name="domain"/> is a relay domain.</summary>
    public bool Contains(string domain) => domain.Length > 0 && Volatile.Read(ref _state).Domains.ContainsKey(MapFile.NormalizeDomain(domain));

    /// <summary>The RCPT reply for <paramref name="address"/>, an address in a relay domain: 250, 550 5.1.1 (not in the
    /// list, or refused by the next hop) or 450 4.1.1 (the next hop could not say).</summary>
    public async ValueTask<SmtpReply> CheckAsync(SmtpAddress address, CancellationToken cancellationToken)
    {
        var state = Volatile.Read(ref _state);
        if (!state.Domains.TryGetValue(MapFile.NormalizeDomain(address.Domain), out var domain)) return Accepted;
        if (domain.Recipients is { } list && !list.Current.Contains(address, state.Delimiter))
            return new SmtpReply(550, "5.1.1", $"{address.ToPathString()}: Recipient address rejected: User unknown in relay recipient table");
        if (domain.Verify && _verifier is not null) return await _verifier.VerifyAsync(address, cancellationToken).ConfigureAwait(false);
        return Accepted;
    }

    /// <inheritdoc />
    public void Dispose() => Volatile.Read(ref _state).Dispose();

    private State Build(MtaOptions options)
    {
        var domains = new Dictionary<string, RelayDomain>(StringComparer.OrdinalIgnoreCase);
        try
        {
            foreach (var (name, entry) in options.Relay.Domains)
            {
                var file = entry?.RecipientsFile is { Length: > 0 } path
                    ? MapFiles.Open($"Relay:Domains:{name}:RecipientsFile", path, RelayRecipientList.Parse, _paths, _logger, _watch)
                    : null;
                domains[MapFile.NormalizeDomain(name)] = new RelayDomain(file, entry?.VerifyWithNextHop ?? false);
            }
        }
        catch
        {
            foreach (var d in domains.Values) d.Recipients?.Dispose();
            throw;
        }
        return new State(domains, options.Mailboxes.RecipientDelimiter);
    }

    private sealed record RelayDomain(ReloadingFile<RelayRecipientList>? Recipients, bool Verify);

    private sealed record State(Dictionary<string, RelayDomain> Domains, string? Delimiter) : IDisposable
    {
        public void Dispose()
        {
            foreach (var d in Domains.Values) d.Recipients?.Dispose();
        }
    }
}
