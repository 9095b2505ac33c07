// Virtual mailbox domains and virtual alias files (Postfix's virtual_mailbox_domains and virtual_alias_maps).
namespace Mta.Engine.Configuration;

/// <summary>
/// Virtual domains (<c>Virtual</c>): mail domains that are not <see cref="MtaOptions.LocalDomains"/> and have users of
/// their own, each with a Maildir under <c>ROOT/DOMAIN/USER</c> (or, with LMTP, handed over by full address); and
/// virtual alias files that redirect addresses of any domain to other addresses, as Postfix's virtual(5).
/// </summary>
public sealed class VirtualOptions
{
    /// <summary>The virtual mailbox domains, by name, each with its users. Defaults to none.</summary>
    public Dictionary<string, VirtualDomainOptions> Domains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Virtual alias files in Postfix virtual(5) form (<c>user@domain target, target</c>, <c>@domain target</c>
    /// for a catch-all, <c>user target</c> for the local domains), searched in order: the first file with a match wins.
    /// Each is re-read when saved and on reload. Domains named on their left sides that are neither local nor virtual
    /// mailbox domains become virtual alias domains: accepted from anyone, unknown users refused. Defaults to none.</summary>
    public List<string> AliasFiles { get; set; } = [];
}

/// <summary>One virtual mailbox domain (<c>Virtual:Domains:NAME</c>).</summary>
public sealed class VirtualDomainOptions
{
    /// <summary>The domain's mailbox names (the local parts; matched without case). Defaults to none.</summary>
    public List<string> Users { get; set; } = [];

    /// <summary>A file with more mailbox names, one a line (<c>#</c> comments), re-read when saved and on reload.
    /// Defaults to none.</summary>
    public string? UsersFile { get; set; }
}
