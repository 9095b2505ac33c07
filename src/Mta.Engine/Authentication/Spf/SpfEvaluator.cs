// RFC 7208 check_host() on the server's one IDnsResolver (its cache and timeouts): limits, includes, redirects, exp=.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Engine.Authentication.Spf;

/// <summary>
/// Evaluates SPF (RFC 7208) for a client address and a MAIL FROM or HELO identity. Every query goes through the
/// server's <see cref="IDnsResolver"/>, so SPF shares its cache, servers and timeouts with MX routing, DKIM and DMARC.
/// Bounded as RFC 7208 4.6.4 asks: at most <see cref="MaxDnsLookups"/> DNS-querying terms and
/// <see cref="MaxVoidLookups"/> void lookups per check (include and redirect chains included), at most
/// <see cref="MaxNamesPerTerm"/> MX or PTR names per term, and <see cref="TimeBudget"/> in all. Thread-safe; never throws
/// but <see cref="OperationCanceledException"/> when the caller's token fires.
/// </summary>
public sealed partial class SpfEvaluator
{
    /// <summary>DNS-querying terms (include, a, mx, ptr, exists, redirect) allowed per check (RFC 7208 4.6.4).</summary>
    public const int MaxDnsLookups = 10;

    /// <summary>Lookups answering NXDOMAIN or no records allowed per check (RFC 7208 4.6.4 suggests 2).</summary>
    public const int MaxVoidLookups = 2;

    /// <summary>MX names of one mx mechanism whose addresses are looked up; more is a permerror. PTR names of one ptr
    /// mechanism or %{p} looked at; the rest are ignored (RFC 7208 4.6.4).</summary>
    public const int MaxNamesPerTerm = 10;

    private readonly IDnsResolver _dns;
    private readonly string _receiverName;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Builds an evaluator.</summary>
    /// <param name="dns">The server's resolver.</param>
    /// <param name="receiverName">This host's name, the %{r} macro of explanations.</param>
    /// <param name="time">The clock for %{t} and <see cref="TimeBudget"/>.</param>
    /// <param name="logger">Logs each result at Debug.</param>
    public SpfEvaluator(IDnsResolver dns, string receiverName, TimeProvider time, ILogger<SpfEvaluator> logger)
    {
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _receiverName = string.IsNullOrWhiteSpace(receiverName) ? "unknown" : receiverName;
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    /// <summary>The longest one check may take, all its queries together; past it the result is temperror. Defaults to
    /// 20 s (RFC 7208 4.6.4 asks for at least 20 s). Positive, or <see cref="Timeout.InfiniteTimeSpan"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative.</exception>
    public TimeSpan TimeBudget
    {
        get => _timeBudget;
        init => _timeBudget = value > TimeSpan.Zero || value == Timeout.InfiniteTimeSpan
            ? value
            : throw new ArgumentOutOfRangeException(nameof(TimeBudget), value, "a positive time, or infinite");
    }

    private readonly TimeSpan _timeBudget = TimeSpan.FromSeconds(20);

    /// <summary>check_host() of RFC 7208 section 4, as is: <paramref name="sender"/> is <c>local@domain</c> (a sender
    /// without <c>@</c> counts as <c>postmaster@sender</c> in macros).</summary>
    /// <returns>The result; <see cref="SpfCheck.Identity"/> is <paramref name="sender"/>.</returns>
    public Task<SpfCheck> CheckHostAsync(IPAddress ip, string domain, string sender, string helo, CancellationToken ct) =>
        CheckAsync(ip, domain, sender, sender, helo, ct);

    /// <summary>SPF of the MAIL FROM identity (RFC 7208 2.4): the null reverse-path is checked as <c>postmaster@</c> the
    /// HELO name, an empty local part as <c>postmaster</c>. An address-literal domain, or <c>&lt;&gt;</c> without a
    /// usable HELO name, gives none.</summary>
    public Task<SpfCheck> CheckMailFromAsync(IPAddress ip, SmtpAddress reversePath, string? helo, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(reversePath);
        var heloName = helo?.Trim() ?? "";
        if (reversePath.IsNull)
        {
            var postmaster = "postmaster@" + heloName;
            if (IsAddressLiteral(heloName) || !IsValidName(WithoutRootDot(heloName), multiLabel: true))
                return Task.FromResult(new SpfCheck(SpfResult.None, postmaster, heloName, "no HELO domain for the null reverse-path"));
            return CheckAsync(ip, heloName, postmaster, postmaster, heloName, ct);
        }
        var local = reversePath.LocalPart.Length == 0 ? "postmaster" : reversePath.LocalPart;
        var sender = local + "@" + reversePath.Domain;
        if (reversePath.IsAddressLiteral)
            return Task.FromResult(new SpfCheck(SpfResult.None, sender, reversePath.Domain, "address literal"));
        return CheckAsync(ip, reversePath.Domain, sender, sender, heloName.Length == 0 ? "unknown" : heloName, ct);
    }

    /// <summary>SPF of the HELO identity (RFC 7208 2.3), checked as <c>postmaster@</c> the name. An address literal
    /// gives none.</summary>
    public Task<SpfCheck> CheckHeloAsync(IPAddress ip, string helo, CancellationToken ct)
    {
        var name = helo?.Trim() ?? "";
        if (IsAddressLiteral(name))
            return Task.FromResult(new SpfCheck(SpfResult.None, name, name, "address literal"));
        return CheckAsync(ip, name, "postmaster@" + name, name, name, ct);
    }

    private static bool IsAddressLiteral(string name) => name.StartsWith('[') || IPAddress.TryParse(name, out _);

    private async Task<SpfCheck> CheckAsync(IPAddress ip, string domain, string sender, string identity, string helo, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(ip);
        ct.ThrowIfCancellationRequested();
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        domain = ToALabels(WithoutRootDot((domain ?? "").Trim()));
        sender ??= "";
        identity ??= "";
        SpfCheck check;
        if (!IsValidName(domain, multiLabel: true, visibleOnly: true))
        {
            // RFC 7208 4.3: a malformed or single-label domain is none, not an error.
            check = new SpfCheck(SpfResult.None, identity, domain, "not a domain name");
        }
        else
        {
            using var budget = new CancellationTokenSource(TimeBudget, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, budget.Token);
            var state = new Evaluation(ip, sender, string.IsNullOrEmpty(helo) ? "unknown" : helo, linked.Token, ct);
            try
            {
                var outcome = await EvaluateAsync(state, domain, wantExplanation: true).ConfigureAwait(false);
                check = new SpfCheck(outcome.Result, identity, domain, outcome.Detail);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                check = new SpfCheck(SpfResult.TempError, identity, domain, $"SPF evaluation took longer than {TimeBudget.TotalSeconds:0.###} s");
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A resolver breaking its never-throw contract must not take the session down with it.
                LogUnexpected(ex, domain);
                check = new SpfCheck(SpfResult.TempError, identity, domain, "internal error evaluating SPF");
            }
        }
        LogResult(identity, ip, domain, check.Result, check.Detail);
        return check;
    }

    /// <summary>check_host() on one domain: fetch and select its record, run the mechanisms, then redirect=.</summary>
    private async Task<Outcome> EvaluateAsync(Evaluation state, string domain, bool wantExplanation)
    {
        var txt = await _dns.GetTxtAsync(domain, state.Token).ConfigureAwait(false);
        if (txt.Status == DnsStatus.TemporaryFailure)
            return Outcome.TempError($"DNS failure for the SPF record of {domain}: {txt.Error}");
        if (txt.Status == DnsStatus.NotFound)
            return new Outcome(SpfResult.None, $"{domain} does not exist");
        if (!SpfRecord.TrySelect(txt.Records, out var text, out var error))
            return error is null ? new Outcome(SpfResult.None, $"no SPF record at {domain}") : Outcome.PermError($"{domain}: {error}");
        if (!SpfRecord.TryParse(text!, out var record, out error))
            return Outcome.PermError($"{domain}: {error}");

        foreach (var mechanism in record!.Mechanisms)
        {
            var match = await MatchAsync(state, mechanism, domain).ConfigureAwait(false);
            if (match.Error is { } failed)
                return failed;
            if (!match.Matched)
                continue;
            var result = mechanism.Qualifier switch
            {
                SpfQualifier.Fail => SpfResult.Fail,
                SpfQualifier.SoftFail => SpfResult.SoftFail,
                SpfQualifier.Neutral => SpfResult.Neutral,
                _ => SpfResult.Pass,
            };
            string? detail = mechanism.Text;
            // RFC 7208 6.2: an included record's exp= is never used; a redirected record's replaces the original's.
            if (result == SpfResult.Fail && wantExplanation && record.Explanation is not null)
                detail = await ExplainAsync(state, record.Explanation, domain).ConfigureAwait(false) ?? detail;
            return new Outcome(result, detail);
        }

        if (record.Redirect is null)
            return new Outcome(SpfResult.Neutral, null);
        if (!state.CountLookup())
            return Outcome.PermError(TooManyLookups);
        var (target, problem) = await ExpandTargetAsync(state, record.Redirect, domain).ConfigureAwait(false);
        if (problem is not null)
            return problem.Value;
        var redirected = await EvaluateAsync(state, target!, wantExplanation).ConfigureAwait(false);
        return redirected.Result == SpfResult.None
            ? Outcome.PermError($"redirect={target}: {redirected.Detail}")
            : redirected;
    }

    private async Task<Match> MatchAsync(Evaluation state, SpfMechanism mechanism, string domain)
    {
        var ip = state.Address;
        var v6 = ip.AddressFamily == AddressFamily.InterNetworkV6;
        var family = v6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var prefix = v6 ? mechanism.Ip6Prefix : mechanism.Ip4Prefix;
        switch (mechanism.Kind)
        {
            case SpfMechanismKind.All:
                return Match.Yes;
            case SpfMechanismKind.Ip4:
                return new Match(!v6 && InPrefix(ip, mechanism.Network!, mechanism.Ip4Prefix));
            case SpfMechanismKind.Ip6:
                return new Match(v6 && InPrefix(ip, mechanism.Network!, mechanism.Ip6Prefix));
        }

        if (!state.CountLookup())
            return Match.Fails(Outcome.PermError(TooManyLookups));
        var target = domain;
        if (mechanism.Domain is not null)
        {
            var (expanded, problem) = await ExpandTargetAsync(state, mechanism.Domain, domain).ConfigureAwait(false);
            if (problem is not null)
                return Match.Fails(problem.Value);
            target = expanded!;
        }

        switch (mechanism.Kind)
        {
            case SpfMechanismKind.Include:
            {
                var inner = await EvaluateAsync(state, target, wantExplanation: false).ConfigureAwait(false);
                // RFC 7208 5.2: pass matches; fail, softfail and neutral do not; errors and none end the check.
                return inner.Result switch
                {
                    SpfResult.Pass => Match.Yes,
                    SpfResult.Fail or SpfResult.SoftFail or SpfResult.Neutral => Match.No,
                    SpfResult.TempError => Match.Fails(inner),
                    SpfResult.PermError => Match.Fails(inner),
                    _ => Match.Fails(Outcome.PermError($"{mechanism.Text}: {inner.Detail}")),
                };
            }

            case SpfMechanismKind.A:
            {
                var answer = await _dns.GetAddressesAsync(target, family, state.Token).ConfigureAwait(false);
                if (Void(state, answer, mechanism) is { } problem)
                    return problem;
                return new Match(answer.Records.Any(a => InPrefix(ip, a, prefix)));
            }

            case SpfMechanismKind.Exists:
            {
                // Always an A query, whatever the client's address family (RFC 7208 5.7).
                var answer = await _dns.GetAddressesAsync(target, AddressFamily.InterNetwork, state.Token).ConfigureAwait(false);
                if (Void(state, answer, mechanism) is { } problem)
                    return problem;
                return new Match(answer.HasRecords);
            }

            case SpfMechanismKind.Mx:
            {
                var answer = await _dns.GetMxAsync(target, state.Token).ConfigureAwait(false);
                if (Void(state, answer, mechanism) is { } problem)
                    return problem;
                var exchanges = answer.Records.Where(m => m.Exchange.Length > 0).OrderBy(m => m.Preference).ToList();
                if (exchanges.Count > MaxNamesPerTerm)
                    return Match.Fails(Outcome.PermError($"{mechanism.Text}: {target} has more than {MaxNamesPerTerm} MX records"));
                foreach (var mx in exchanges)
                {
                    var addresses = await _dns.GetAddressesAsync(mx.Exchange, family, state.Token).ConfigureAwait(false);
                    if (addresses.Status == DnsStatus.TemporaryFailure)
                        return Match.Fails(Outcome.TempError($"{mechanism.Text}: {addresses.Error}"));
                    if (addresses.Records.Any(a => InPrefix(ip, a, prefix)))
                        return Match.Yes;
                }
                return Match.No;
            }

            case SpfMechanismKind.Ptr:
            {
                var names = await PtrNamesAsync(state, countVoid: true).ConfigureAwait(false);
                if (names is null)
                    return Match.Fails(Outcome.PermError(TooManyVoidLookups));
                foreach (var name in names)
                {
                    if (!IsSameOrSubdomain(name, target)) continue;
                    if (await IsValidatedAsync(state, name).ConfigureAwait(false))
                        return Match.Yes;
                }
                return Match.No;
            }
        }
        return Match.No;
    }

    /// <summary>A temperror for a failed query, a permerror for a third void lookup, else null (go on).</summary>
    private static Match? Void<T>(Evaluation state, DnsAnswer<T> answer, SpfMechanism mechanism)
    {
        if (answer.Status == DnsStatus.TemporaryFailure)
            return Match.Fails(Outcome.TempError($"{mechanism.Text}: {answer.Error}"));
        if (!answer.HasRecords && !state.CountVoid())
            return Match.Fails(Outcome.PermError(TooManyVoidLookups));
        return null;
    }

    /// <summary>The client's PTR names, at most <see cref="MaxNamesPerTerm"/>; empty when DNS fails (RFC 7208 5.5: the
    /// mechanism then does not match). Null when the lookup was a void one too many.</summary>
    private async Task<IReadOnlyList<string>?> PtrNamesAsync(Evaluation state, bool countVoid)
    {
        var answer = await _dns.GetPtrAsync(state.Address, state.Token).ConfigureAwait(false);
        if (answer.Status == DnsStatus.TemporaryFailure)
            return [];
        if (!answer.HasRecords && countVoid && !state.CountVoid())
            return null;
        return answer.Records.Take(MaxNamesPerTerm).ToList();
    }

    /// <summary>True when <paramref name="name"/> has an address record equal to the client's (RFC 7208 5.5); a DNS
    /// error skips the name.</summary>
    private async Task<bool> IsValidatedAsync(Evaluation state, string name)
    {
        var family = state.Address.AddressFamily == AddressFamily.InterNetworkV6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
        var answer = await _dns.GetAddressesAsync(name, family, state.Token).ConfigureAwait(false);
        return answer.Records.Any(a => a.Equals(state.Address));
    }

    /// <summary>%{p}: the validated name of the client, preferring &lt;domain&gt; itself, then a subdomain of it (RFC
    /// 7208 7.3); "unknown" when none validates. The PTR work happens once per check and counts as one DNS lookup
    /// when <paramref name="counted"/>; null when that lookup is over the limit.</summary>
    private async Task<string?> ValidatedNameAsync(Evaluation state, string domain, bool counted)
    {
        if (state.ValidatedNames is null)
        {
            if (counted && !state.CountLookup())
                return null;
            var validated = new List<string>();
            foreach (var name in await PtrNamesAsync(state, countVoid: false).ConfigureAwait(false) ?? [])
            {
                if (await IsValidatedAsync(state, name).ConfigureAwait(false)) validated.Add(name);
            }
            state.ValidatedNames = validated;
        }
        var names = state.ValidatedNames;
        return names.FirstOrDefault(n => Domain.NameComparer.Equals(n, domain))
            ?? names.FirstOrDefault(n => IsSameOrSubdomain(n, domain))
            ?? names.FirstOrDefault()
            ?? "unknown";
    }

    /// <summary>A domain-spec expanded into a target name; a permerror when it is not a valid domain name.</summary>
    private async Task<(string? Target, Outcome? Problem)> ExpandTargetAsync(Evaluation state, SpfMacroString spec, string domain)
    {
        var validated = "unknown";
        if (spec.UsesValidatedName)
        {
            if (await ValidatedNameAsync(state, domain, counted: true).ConfigureAwait(false) is not { } name)
                return (null, Outcome.PermError(TooManyLookups));
            validated = name;
        }
        var target = SpfMacroExpander.ExpandDomain(spec, state.Context(domain, _receiverName, _time, validated));
        return IsValidName(target, multiLabel: false)
            ? (target, null)
            : (null, Outcome.PermError($"'{spec}' expands to '{target}', not a domain name"));
    }

    /// <summary>The exp= explanation (RFC 7208 6.2), or null when anything about it fails: those failures are ignored.</summary>
    private async Task<string?> ExplainAsync(Evaluation state, SpfMacroString spec, string domain)
    {
        try
        {
            var validated = spec.UsesValidatedName ? await ValidatedNameAsync(state, domain, counted: false).ConfigureAwait(false) ?? "unknown" : "unknown";
            var target = SpfMacroExpander.ExpandDomain(spec, state.Context(domain, _receiverName, _time, validated));
            if (!IsValidName(target, multiLabel: false))
                return null;
            var txt = await _dns.GetTxtAsync(target, state.Token).ConfigureAwait(false);
            if (txt.Status != DnsStatus.Found || txt.Records.Count != 1)
                return null;
            if (!SpfMacroString.TryParse(txt.Records[0], SpfMacroUse.Explanation, out var explanation, out _))
                return null;
            if (explanation!.UsesValidatedName)
                validated = await ValidatedNameAsync(state, domain, counted: false).ConfigureAwait(false) ?? "unknown";
            return SpfMacroExpander.Expand(explanation, state.Context(domain, _receiverName, _time, validated));
        }
        catch (OperationCanceledException) when (!state.CallerToken.IsCancellationRequested)
        {
            // Out of time while fetching the explanation: the result stands without it.
            return null;
        }
    }

    /// <summary>An internationalised domain in A-label form, as SPF looks it up (RFC 8616 3); "" when it cannot be one.</summary>
    private static string ToALabels(string domain)
    {
        if (domain.All(char.IsAscii)) return domain;
        try
        {
            return new System.Globalization.IdnMapping().GetAscii(domain);
        }
        catch (ArgumentException)
        {
            return "";
        }
    }

    private static bool IsSameOrSubdomain(string name, string domain) =>
        Domain.TryParse(name, out var child) && Domain.TryParse(domain, out var parent) && child.IsSameOrSubdomainOf(parent);

    /// <summary>True for a name DNS can carry: at most 253 characters, labels of 1 to 63 characters and no control
    /// characters; with <paramref name="multiLabel"/> at least two labels, with <paramref name="visibleOnly"/> only visible
    /// ASCII (RFC 7208 4.3 for the initial domain). A target name may hold what macros put there, spaces included (the
    /// RFC 7208 test suite's "macro-mania-in-domain"): the resolver decides whether it can ask for it.</summary>
    internal static bool IsValidName(string name, bool multiLabel, bool visibleOnly = false)
    {
        if (name.Length is 0 or > SpfMacroExpander.MaxDomainLength) return false;
        var labels = name.Split('.');
        if (multiLabel && labels.Length < 2) return false;
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63) return false;
            foreach (var c in label)
            {
                if (c < ' ' || c == '\x7f' || (visibleOnly && c is ' ' or > '~')) return false;
            }
        }
        return true;
    }

    /// <summary>The name without one trailing dot (the root); a second one stays and makes the name invalid.</summary>
    private static string WithoutRootDot(string name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>True when the first <paramref name="prefix"/> bits of <paramref name="address"/> and
    /// <paramref name="network"/> agree; false when their families differ.</summary>
    internal static bool InPrefix(IPAddress address, IPAddress network, int prefix)
    {
        if (address.AddressFamily != network.AddressFamily) return false;
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        var bits = Math.Clamp(prefix, 0, a.Length * 8);
        for (var i = 0; bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }

    private static readonly string TooManyLookups = $"more than {MaxDnsLookups} DNS-querying terms (RFC 7208 4.6.4)";
    private static readonly string TooManyVoidLookups = $"more than {MaxVoidLookups} void DNS lookups (RFC 7208 4.6.4)";

    /// <summary>The state of one check across its includes and redirects: the client, the counters and the budget.</summary>
    private sealed class Evaluation(IPAddress address, string sender, string helo, CancellationToken token, CancellationToken callerToken)
    {
        private int _lookups;
        private int _voids;

        public IPAddress Address { get; } = address;
        /// <summary>The caller's token linked with the time budget.</summary>
        public CancellationToken Token { get; } = token;
        public CancellationToken CallerToken { get; } = callerToken;
        public List<string>? ValidatedNames { get; set; }

        /// <summary>Counts a DNS-querying term; false when it is one too many.</summary>
        public bool CountLookup() => ++_lookups <= MaxDnsLookups;

        /// <summary>Counts a void lookup; false when it is one too many.</summary>
        public bool CountVoid() => ++_voids <= MaxVoidLookups;

        public SpfMacroContext Context(string domain, string receiver, TimeProvider time, string validated) =>
            new(sender, domain, Address, helo, receiver, time.GetUtcNow(), validated);
    }

    private readonly record struct Outcome(SpfResult Result, string? Detail)
    {
        public static Outcome TempError(string detail) => new(SpfResult.TempError, detail);
        public static Outcome PermError(string detail) => new(SpfResult.PermError, detail);
    }

    private readonly record struct Match(bool Matched, Outcome? Error = null)
    {
        public static Match Yes => new(true);
        public static Match No => new(false);
        public static Match Fails(Outcome error) => new(false, error);
    }

    [LoggerMessage(EventId = LogEvents.Authentication.SpfResult, Level = LogLevel.Debug, Message = "SPF {Identity} from {Address} (record of {Domain}): {Result} {Detail}")]
    private partial void LogResult(string identity, IPAddress address, string domain, SpfResult result, string? detail);

    [LoggerMessage(EventId = LogEvents.Authentication.SpfUnexpected, Level = LogLevel.Error, Message = "SPF evaluation of {Domain} failed unexpectedly")]
    private partial void LogUnexpected(Exception exception, string domain);
}
