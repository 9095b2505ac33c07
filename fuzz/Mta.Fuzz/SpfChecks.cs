// The spf fuzz target: SpfRecord.TryParse, macro-string parsing and expansion, and check_host() on an in-memory resolver;
// also compiled into tests/Mta.Engine.Tests, whose SpfFuzzCorpusTests replays fuzz/corpus/spf and fuzz/crashes/spf.
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Authentication.Spf;

namespace Mta.Fuzz;

/// <summary>A violated SPF invariant (distinct from an exception thrown by the code under test).</summary>
public sealed class SpfInvariantException(string message) : Exception(message);

public static class SpfChecks
{
    private static readonly SpfMacroContext V4 = new("strong-bad@email.example.com", "email.example.com", IPAddress.Parse("192.0.2.3"),
        "mx.example.org", "receiver.example.net", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), "mx.example.org");

    private static readonly SpfMacroContext V6 = V4 with { Address = IPAddress.Parse("2001:db8::cb01"), Sender = "example.com" };

    private static readonly SpfEvaluator Evaluator = new(new FuzzResolver(), "receiver.example.net", TimeProvider.System,
        NullLogger<SpfEvaluator>.Instance);

    private static void Require(bool condition, string what)
    {
        if (!condition) throw new SpfInvariantException(what);
    }

    /// <summary>
    /// spf: the bytes decoded as UTF-8, parsed as a record as they are and after "v=spf1 "; every parsed domain-spec is
    /// expanded for an IPv4 and an IPv6 client (a domain expansion is at most 253 characters unless it has no dot left to
    /// cut at); the text is parsed as a macro-string for each use (what a domain-spec accepts, a modifier accepts, and
    /// what a modifier accepts, an explanation accepts) and expanded; finally check_host() runs on the record against an
    /// in-memory resolver and must give a result without throwing, with a detail for temperror and permerror.
    /// </summary>
    public static void Record(ReadOnlySpan<byte> input)
    {
        var text = Encoding.UTF8.GetString(input);
        var prefixed = "v=spf1 " + text;
        CheckRecord(text);
        var parsed = CheckRecord(prefixed);

        var previous = false;
        foreach (var use in new[] { SpfMacroUse.DomainSpec, SpfMacroUse.Modifier, SpfMacroUse.Explanation })
        {
            var ok = SpfMacroString.TryParse(text, use, out var macro, out var error);
            Require(ok == (macro is not null) && ok == (error is null), "macro-string result is neither success nor error");
            Require(ok || !previous, $"accepted as a narrower macro-string but refused as {use}");
            previous = ok;
            if (!ok) continue;
            Require(macro!.Text == text, "macro-string lost its text");
            _ = SpfMacroExpander.Expand(macro, V4);
            _ = SpfMacroExpander.Expand(macro, V6);
        }

        FuzzResolver.Current = prefixed;
        var check = Evaluator.CheckHostAsync(IPAddress.Parse("192.0.2.3"), "example.com", "user@example.com", "mx.example.org",
            CancellationToken.None).GetAwaiter().GetResult();
        Require(check.Result is >= SpfResult.None and <= SpfResult.PermError, "result out of range");
        Require(check.Result is not (SpfResult.TempError or SpfResult.PermError) || !string.IsNullOrEmpty(check.Detail),
            "an error result without a detail");
        Require(check.Result != SpfResult.None, "a published record gave none");
        Require(parsed || check.Result == SpfResult.PermError, $"an unparsable record gave {check.Result}");
    }

    private static bool CheckRecord(string text)
    {
        var ok = SpfRecord.TryParse(text, out var record, out var error);
        Require(ok == (record is not null) && ok == (error is null), "record result is neither success nor error");
        Require(ok || !string.IsNullOrEmpty(error), "failure without an error text");
        Require(!ok || SpfRecord.IsSpfRecord(text), "parsed something that is not a v=spf1 record");
        Require(SpfRecord.TryParse(text, out _, out _) == ok, "parsing is not deterministic");
        Require(!SpfRecord.TrySelect([text, text], out _, out var twice) || !SpfRecord.IsSpfRecord(text), "two records selected as one");
        Require(!SpfRecord.IsSpfRecord(text) || twice is not null, "two records without an error");
        if (!ok) return false;

        foreach (var m in record!.Mechanisms)
        {
            Require(m.Ip4Prefix is >= 0 and <= 32 && m.Ip6Prefix is >= 0 and <= 128, $"prefix out of range in {m.Text}");
            Require((m.Kind is SpfMechanismKind.Ip4 or SpfMechanismKind.Ip6) == (m.Network is not null), $"network mismatch in {m.Text}");
            Require(m.Kind != SpfMechanismKind.Ip4 || m.Network!.AddressFamily == AddressFamily.InterNetwork, $"ip4 not IPv4 in {m.Text}");
            Require(m.Kind != SpfMechanismKind.Ip6 || m.Network!.AddressFamily == AddressFamily.InterNetworkV6, $"ip6 not IPv6 in {m.Text}");
            Require(m.Kind is not (SpfMechanismKind.Include or SpfMechanismKind.Exists) || m.Domain is not null, $"no domain in {m.Text}");
            Require(text.Contains(m.Text, StringComparison.Ordinal), $"mechanism text '{m.Text}' not in the record");
            if (m.Domain is not null) ExpandDomain(m.Domain);
        }
        if (record.Redirect is not null) ExpandDomain(record.Redirect);
        if (record.Explanation is not null) ExpandDomain(record.Explanation);
        return true;
    }

    private static void ExpandDomain(SpfMacroString spec)
    {
        foreach (var context in new[] { V4, V6 })
        {
            var name = SpfMacroExpander.ExpandDomain(spec, context);
            Require(name.Length <= SpfMacroExpander.MaxDomainLength || !name.Contains('.'), $"expansion of '{spec}' not truncated");
        }
    }

    /// <summary>Answers every TXT query with the record under test (so includes and redirects recurse into it), except
    /// names starting with "nx" (NXDOMAIN) and "tf" (temporary failure); addresses, MX and PTR answers are fixed.</summary>
    private sealed class FuzzResolver : IDnsResolver
    {
        private static readonly AsyncLocal<string?> Record = new();

        public static string Current { set => Record.Value = value; }

        public ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Special<string>(name) ?? DnsAnswer<string>.Found(Record.Value is { } record ? [record] : []));

        public ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Special<IPAddress>(name) ?? DnsAnswer<IPAddress>.Found(
                family == AddressFamily.InterNetwork ? [IPAddress.Parse("192.0.2.1")] : [IPAddress.Parse("2001:db8::1")]));

        public ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Special<MxHost>(name) ?? DnsAnswer<MxHost>.Found([new MxHost(10, "mx." + name), new MxHost(20, "")]));

        public ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken) =>
            ValueTask.FromResult(DnsAnswer<string>.Found(["mail.example.com", "other.example.org"]));

        private static DnsAnswer<T>? Special<T>(string name) =>
            name.StartsWith("nx", StringComparison.OrdinalIgnoreCase) ? DnsAnswer<T>.NotFound("NXDOMAIN")
            : name.StartsWith("tf", StringComparison.OrdinalIgnoreCase) ? DnsAnswer<T>.Failed("SERVFAIL")
            : null;
    }
}
