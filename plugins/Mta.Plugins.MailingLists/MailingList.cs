// A mailing list as configured: its address, owner (the envelope sender of expansions), description and members.
using Mta.Abstractions;

namespace Mta.Plugins.MailingLists;

/// <summary>One member line: an address and the optional display name shown by EXPN.</summary>
public sealed record ListMember(SmtpAddress Address, string? DisplayName)
{
    /// <summary>The EXPN form of RFC 5321 section 3.5.2: <c>Name &lt;addr&gt;</c> or <c>&lt;addr&gt;</c>.</summary>
    public string ToExpnLine() => string.IsNullOrWhiteSpace(DisplayName) ? Address.ToPathString() : $"{DisplayName} {Address.ToPathString()}";
}

/// <summary>A mailing list.</summary>
/// <param name="Address">The list's own address (what senders write).</param>
/// <param name="Owner">Envelope sender of every expansion, so bounces reach the owner and not the original sender.</param>
/// <param name="Description">The phrase of the List-Id field, or null.</param>
/// <param name="Members">Members in file/config order, already de-duplicated.</param>
public sealed record MailingList(SmtpAddress Address, SmtpAddress Owner, string? Description, IReadOnlyList<ListMember> Members)
{
    /// <summary>The RFC 2919 list identifier: the local part, a dot, the domain (<c>dev.example.test</c>).</summary>
    public string ListId => (Address.LocalPart + "." + Address.Domain.TrimEnd('.')).ToLowerInvariant();

    /// <summary>RFC 5321 section 3.10's convention <c>owner-LIST@domain</c>.</summary>
    public static SmtpAddress DefaultOwner(SmtpAddress list) => new("owner-" + list.LocalPart, list.Domain);
}

/// <summary>Address parsing for configuration values, which are human-written and lenient on purpose.</summary>
public static class Addresses
{
    /// <summary>Case-insensitive key of an address: local parts are case-sensitive by the letter of RFC 5321, but no
    /// operator wants <c>Dev@</c> and <c>dev@</c> to be two lists or two copies.</summary>
    public static string Key(SmtpAddress address) => (address.LocalPart + "@" + address.Domain.TrimEnd('.')).ToLowerInvariant();

    /// <summary>Parses <c>local@domain</c> (optionally in angle brackets). Without a domain,
    /// <paramref name="defaultDomain"/> is used when given.</summary>
    public static bool TryParse(string? text, string? defaultDomain, out SmtpAddress address)
    {
        address = SmtpAddress.Null;
        if (text is null) return false;
        text = text.Trim();
        if (text.StartsWith('<') && text.EndsWith('>')) text = text[1..^1].Trim();
        if (text.Length == 0 || text.Any(c => char.IsWhiteSpace(c) || c is '<' or '>' or ',' or ';' || char.IsControl(c))) return false;
        var at = text.LastIndexOf('@');
        string local, domain;
        if (at < 0)
        {
            if (string.IsNullOrEmpty(defaultDomain)) return false;
            (local, domain) = (text, defaultDomain);
        }
        else
        {
            (local, domain) = (text[..at], text[(at + 1)..]);
        }
        if (local.Length is 0 or > 64 || domain.Length is 0 or > 255 || domain.Contains('@')) return false;
        address = new SmtpAddress(local, domain.TrimEnd('.'));
        return true;
    }

    /// <summary>Parses a member line: <c>addr</c>, <c>&lt;addr&gt;</c> or <c>Display Name &lt;addr&gt;</c>.</summary>
    public static bool TryParseMember(string? line, string defaultDomain, out ListMember member)
    {
        member = null!;
        if (string.IsNullOrWhiteSpace(line)) return false;
        line = line.Trim();
        string? name = null;
        var lt = line.LastIndexOf('<');
        if (lt > 0 && line.EndsWith('>'))
        {
            name = line[..lt].Trim().Trim('"').Trim();
            line = line[lt..];
        }
        if (!TryParse(line, defaultDomain, out var address)) return false;
        member = new ListMember(address, string.IsNullOrEmpty(name) ? null : name);
        return true;
    }
}
