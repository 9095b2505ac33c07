// Client side of EHLO: what a server's 250 reply says it supports (RFC 5321 4.1.1.1 and the extension RFCs).
using System.Collections.Frozen;
using System.Globalization;

namespace Mta.Protocol.Client;

/// <summary>
/// The service extensions a server announced in its EHLO reply. Keywords are case-insensitive (RFC 5321 4.1.1.1);
/// unknown ones are kept in <see cref="Keywords"/>. Immutable.
/// </summary>
public sealed class EhloCapabilities
{
    private static readonly FrozenDictionary<string, string> NoKeywords =
        new Dictionary<string, string>().ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> NoMechanisms = new HashSet<string>().ToFrozenSet(StringComparer.Ordinal);

    private EhloCapabilities(bool isExtended, string serverName, FrozenDictionary<string, string> keywords, FrozenSet<string> mechanisms)
    {
        IsExtended = isExtended;
        ServerName = serverName;
        Keywords = keywords;
        AuthMechanisms = mechanisms;
        Pipelining = keywords.ContainsKey("PIPELINING");
        EightBitMime = keywords.ContainsKey("8BITMIME");
        SmtpUtf8 = keywords.ContainsKey("SMTPUTF8");
        StartTls = keywords.ContainsKey("STARTTLS");
        Dsn = keywords.ContainsKey("DSN");
        EnhancedStatusCodes = keywords.ContainsKey("ENHANCEDSTATUSCODES");
        Chunking = keywords.ContainsKey("CHUNKING");
        BinaryMime = keywords.ContainsKey("BINARYMIME");
        if (keywords.TryGetValue("SIZE", out var size))
        {
            SizeOffered = true;
            Size = ParseSizeLimit(size);
        }
    }

    /// <summary>No extensions: what a server that only answered HELO offers.</summary>
    public static EhloCapabilities None { get; } = new(false, string.Empty, NoKeywords, NoMechanisms);

    /// <summary>True when the capabilities come from an EHLO reply; false for <see cref="None"/> (HELO).</summary>
    public bool IsExtended { get; }

    /// <summary>The first word of the reply's first line: the name the server gives itself (may be empty).</summary>
    public string ServerName { get; }

    /// <summary>PIPELINING (RFC 2920): commands may be sent in groups.</summary>
    public bool Pipelining { get; }

    /// <summary>The server announced SIZE (RFC 1870), so MAIL may carry <c>SIZE=</c>.</summary>
    public bool SizeOffered { get; }

    /// <summary>The server's fixed message size limit in octets; null when SIZE was not offered or has no fixed
    /// limit (no number, 0, or a number that is not one).</summary>
    public long? Size { get; }

    /// <summary>8BITMIME (RFC 6152): <c>BODY=8BITMIME</c> is accepted.</summary>
    public bool EightBitMime { get; }

    /// <summary>SMTPUTF8 (RFC 6531): UTF-8 addresses and headers are accepted.</summary>
    public bool SmtpUtf8 { get; }

    /// <summary>STARTTLS (RFC 3207).</summary>
    public bool StartTls { get; }

    /// <summary>DSN (RFC 3461): NOTIFY, ORCPT, RET and ENVID are accepted and acted upon.</summary>
    public bool Dsn { get; }

    /// <summary>ENHANCEDSTATUSCODES (RFC 2034).</summary>
    public bool EnhancedStatusCodes { get; }

    /// <summary>CHUNKING (RFC 3030): BDAT is accepted.</summary>
    public bool Chunking { get; }

    /// <summary>BINARYMIME (RFC 3030): <c>BODY=BINARYMIME</c> is accepted, for a message sent with BDAT only.</summary>
    public bool BinaryMime { get; }

    /// <summary>SASL mechanisms offered by AUTH (RFC 4954), upper case; also from the pre-standard <c>AUTH=</c> form.</summary>
    public IReadOnlySet<string> AuthMechanisms { get; }

    /// <summary>Every keyword announced, upper case, with its parameters as one string (empty when it has none).
    /// Look-ups ignore case.</summary>
    public IReadOnlyDictionary<string, string> Keywords { get; }

    /// <summary>True when the server announced <paramref name="keyword"/> (any case).</summary>
    public bool Supports(string keyword) => Keywords.ContainsKey(keyword);

    /// <summary>Reads the capabilities from a positive EHLO reply.</summary>
    /// <exception cref="ArgumentException">The reply is not a 2xx reply.</exception>
    public static EhloCapabilities Parse(SmtpReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        if (reply.Code is < 200 or >= 300)
            throw new ArgumentException($"An EHLO reply must be 2xx, not {reply.Code}.", nameof(reply));
        return Parse(reply.Lines);
    }

    /// <summary>Reads the capabilities from the text lines of an EHLO reply (the code stripped), the greeting line first.</summary>
    public static EhloCapabilities Parse(IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var first = lines.Count > 0 ? lines[0].Trim() : string.Empty;
        var space = first.IndexOf(' ');
        var serverName = space < 0 ? first : first[..space];

        var keywords = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var mechanisms = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 1; i < lines.Count; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0) continue;
            var sp = line.IndexOfAny([' ', '\t']);
            var keyword = (sp < 0 ? line : line[..sp]).ToUpperInvariant();
            var parameters = sp < 0 ? string.Empty : line[(sp + 1)..].Trim();

            // Old servers (and Postfix's broken_sasl_auth_clients) announce "AUTH=PLAIN LOGIN" next to "AUTH PLAIN LOGIN".
            if (keyword.StartsWith("AUTH=", StringComparison.Ordinal))
            {
                AddMechanisms(mechanisms, keyword[5..] + " " + parameters);
                keywords.TryAdd("AUTH", (keyword[5..] + " " + parameters).Trim());
                continue;
            }
            if (keyword == "AUTH")
            {
                AddMechanisms(mechanisms, parameters);
                keywords["AUTH"] = parameters;
                continue;
            }
            // The first announcement wins: a server repeating a keyword is not asking us to forget the first one.
            keywords.TryAdd(keyword, parameters);
        }
        return new EhloCapabilities(
            true,
            serverName,
            keywords.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            mechanisms.ToFrozenSet(StringComparer.Ordinal));
    }

    private static void AddMechanisms(HashSet<string> mechanisms, string list)
    {
        foreach (var mechanism in list.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            mechanisms.Add(mechanism.ToUpperInvariant());
    }

    // RFC 1870 4: "SIZE" alone or "SIZE 0" means no fixed maximum. An unreadable number is treated the same way:
    // refusing every message over a value we cannot read would be worse than letting the server decide.
    private static long? ParseSizeLimit(string parameters)
    {
        var token = parameters.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries) is [var t, ..] ? t : string.Empty;
        if (token.Length == 0) return null;
        if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var limit)) return null;
        return limit > 0 ? limit : null;
    }
}
