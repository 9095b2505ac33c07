// The local alias tables in /etc/aliases format ("Aliases"), as Postfix's alias_maps and local(8) settings.
namespace Mta.Engine.Configuration;

/// <summary>
/// Alias files (<c>Aliases</c>), read as Postfix's <c>alias_maps</c>: each names a local part of a local domain and what
/// its mail becomes (other local users, remote addresses, <c>|command</c>, <c>/file</c>, <c>:include:/list</c>). A
/// recipient whose name is an alias is accepted at RCPT and expanded at delivery (docs/aliases.md).
/// </summary>
public sealed class AliasOptions
{
    /// <summary>Alias files in <c>/etc/aliases</c> format, searched in order (the first that names an alias wins). Paths
    /// are resolved as every configured path is (<c>MtaPaths.Resolve</c>). Defaults to none: the embedded development
    /// config has no aliases; an installed server lists <c>/etc/aliases</c>.</summary>
    public List<string> Files { get; set; } = [];

    /// <summary>The account <c>|command</c> and <c>/file</c> targets of a root-owned alias or include file run as.
    /// Defaults to <c>nobody</c>, as Postfix's <c>default_privs</c>: a line in a root-owned file must not run as root.</summary>
    public string DefaultUser { get; set; } = "nobody";

    /// <summary>Allow <c>|command</c> targets in alias and include files. Defaults to true, as Postfix's
    /// <c>allow_mail_to_commands = alias, forward</c>; when false such a target bounces (5.7.1).</summary>
    public bool AllowCommands { get; set; } = true;

    /// <summary>Allow <c>/file</c> targets in alias and include files. Defaults to true, as Postfix's
    /// <c>allow_mail_to_files = alias, forward</c>; when false such a target bounces (5.7.1).</summary>
    public bool AllowFiles { get; set; } = true;

    /// <summary>How deep aliases (and <c>:include:</c> files) may nest before the expansion stops with 5.4.6. Defaults to
    /// 100, as Postfix's recursion limit of local(8): far above any sane list, low enough to stop a runaway chain.</summary>
    public int MaxDepth { get; set; } = 100;
}
