// Decides at RCPT whether a local part of a local domain has a mailbox here, so unknown and impossible names are refused
// in the session instead of accepted and bounced later (backscatter).
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Protocol;

namespace Mta.Engine.Routing;

/// <summary>What the built-in policy says about one local recipient.</summary>
public enum LocalRecipientVerdict
{
    /// <summary>A mailbox here: postmaster, an alias, a configured or system user, or any name when any local part is accepted.</summary>
    Accepted,
    /// <summary>The local part cannot name a mailbox (<see cref="MailboxNames.Rule"/>): 550 5.1.3.</summary>
    NotAMailboxName,
    /// <summary>A well-formed name that no user list knows: 550 5.1.1.</summary>
    Unknown,
}

/// <summary>
/// The built-in local recipient check (the RCPT hooks run first, and their Accept or Reject overrides it). In order:
/// <c>postmaster</c> is always accepted (RFC 5321 4.5.1); so is an alias name (the full local part, or its user part before
/// <c>Mailboxes:RecipientDelimiter</c>) of <c>Aliases:Files</c>; a local part that cannot be a mailbox name is refused with 5.1.3;
/// then <c>Mailboxes:AcceptAnyLocalPart</c>, <c>Mailboxes:Users</c> and system accounts
/// (<c>Mailboxes:SystemUsers</c>, uid between <c>MinSystemUid</c> and <c>MaxSystemUid</c>) accept; anything else is 5.1.1.
/// Names are matched as delivery uses them: lower-cased.
/// </summary>
public sealed class LocalRecipientPolicy
{
    private readonly MailboxOptions _options;
    private readonly HashSet<string> _users;
    private readonly Func<string, uint?> _uidOf;
    private readonly Maps.AliasTable? _aliases;

    /// <param name="options">The <c>Mailboxes</c> options.</param>
    /// <param name="uidOf">Looks a login name up in the passwd database; tests may pass their own.</param>
    /// <param name="aliases">The alias table whose names are recipients too, or null for none.</param>
    public LocalRecipientPolicy(MailboxOptions options, Func<string, uint?>? uidOf = null, Maps.AliasTable? aliases = null)
    {
        _aliases = aliases;
        _options = options;
        _users = new HashSet<string>(options.Users, StringComparer.OrdinalIgnoreCase);
        _uidOf = uidOf ?? Terminal.UnixUsers.UidOf;
    }

    /// <summary>The verdict for <paramref name="localPart"/> (unquoted) of a local domain. With a recipient delimiter
    /// (<c>Mailboxes:RecipientDelimiter</c>), <c>user+detail</c> is accepted when <c>user</c> is.</summary>
    public LocalRecipientVerdict Check(string localPart) => Check(localPart, withAliases: true);

    /// <summary>As <see cref="Check(string)"/>, but only a mailbox counts, not an alias name: what an alias's local
    /// target must be.</summary>
    public LocalRecipientVerdict CheckMailbox(string localPart) => Check(localPart, withAliases: false);

    private LocalRecipientVerdict Check(string localPart, bool withAliases)
    {
        var verdict = CheckWhole(localPart, withAliases);
        if (verdict == LocalRecipientVerdict.Accepted) return verdict;
        var (user, detail) = AddressDetail.Split(localPart, _options.RecipientDelimiter);
        return detail is not null && CheckWhole(user, withAliases) == LocalRecipientVerdict.Accepted ? LocalRecipientVerdict.Accepted : verdict;
    }

    /// <summary>The mailbox of a local part, lower-cased as delivery names it: <c>alice+tag</c> is alice's (the detail
    /// picks her folder at delivery) unless <c>alice+tag</c> is itself one of <c>Mailboxes:Users</c>.</summary>
    public string MailboxOf(string localPart)
    {
        var (user, detail) = AddressDetail.Split(localPart, _options.RecipientDelimiter);
        return (detail is null || _users.Contains(localPart) ? localPart : user).ToLowerInvariant();
    }

    private LocalRecipientVerdict CheckWhole(string localPart, bool withAliases)
    {
        if (string.Equals(localPart, "postmaster", StringComparison.OrdinalIgnoreCase)) return LocalRecipientVerdict.Accepted;
        if (withAliases && _aliases?.Find(localPart) is not null) return LocalRecipientVerdict.Accepted;
        if (!MailboxNames.IsValid(localPart)) return LocalRecipientVerdict.NotAMailboxName;
        if (_options.AcceptAnyLocalPart || _users.Contains(localPart)) return LocalRecipientVerdict.Accepted;
        if (_options.SystemUsers && IsSystemUser(localPart.ToLowerInvariant())) return LocalRecipientVerdict.Accepted;
        return LocalRecipientVerdict.Unknown;
    }

    /// <summary>The RCPT reply for <paramref name="address"/>, a recipient in a local domain.</summary>
    public SmtpReply Reply(SmtpAddress address) => Check(address.LocalPart) switch
    {
        LocalRecipientVerdict.Accepted => new SmtpReply(250, "2.1.5", "Ok"),
        // RFC 3463 X.1.3: bad destination mailbox address syntax. The name is not echoed on its own: it may hold anything.
        LocalRecipientVerdict.NotAMailboxName => new SmtpReply(550, "5.1.3",
            $"{address.ToPathString()}: Recipient address rejected: the local part cannot be a mailbox name ({MailboxNames.Rule})"),
        _ => new SmtpReply(550, "5.1.1", $"{address.ToPathString()}: Recipient address rejected: User unknown in local recipient table"),
    };

    /// <summary>The effective policy in one line, for <c>mta check</c> and the start-up log.</summary>
    public string Describe()
    {
        if (_options.AcceptAnyLocalPart) return "any local part that can be a mailbox name (Mailboxes:AcceptAnyLocalPart)";
        var parts = new List<string> { "postmaster" };
        if (_aliases is { IsEmpty: false }) parts.Add($"the aliases of {_aliases.Options.Files.Count} alias file(s)");
        if (_users.Count > 0) parts.Add($"{_users.Count} user(s) of Mailboxes:Users");
        if (_options.SystemUsers) parts.Add($"system accounts with uid {_options.MinSystemUid}-{_options.MaxSystemUid}");
        var detail = _options.RecipientDelimiter is { Length: > 0 } d ? $"; user{d[0]}detail as user (delimiter '{d}')" : "";
        return string.Join(", ", parts) + detail + "; other local parts get 550 5.1.1";
    }

    private bool IsSystemUser(string name) =>
        _uidOf(name) is { } uid && uid >= _options.MinSystemUid && uid <= _options.MaxSystemUid;
}
