// Expands one alias into its final targets (mailboxes, remote addresses, files, commands), as Postfix's local(8) does.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Maps;

namespace Mta.Engine.Delivery;

/// <summary>Where an expanded target's copy goes.</summary>
internal enum AliasDestination
{
    /// <summary>A local user's mailbox (Maildir, or the LMTP server).</summary>
    Mailbox,
    /// <summary>An address of another domain: forwarded in a new message.</summary>
    Remote,
    /// <summary>A file the message is appended to.</summary>
    File,
    /// <summary>A command the message is piped to.</summary>
    Command,
}

/// <summary>One final target of an alias.</summary>
/// <param name="Kind">Where it goes.</param>
/// <param name="Value">The user, address, path or command line.</param>
/// <param name="RunAs">For a file or command: the account it runs as.</param>
/// <param name="Sender">For a remote address: the envelope sender of the forwarded copy (<c>owner-list</c>), or null for the original sender.</param>
/// <param name="Problem">Set when the target cannot be delivered as named (not allowed, unknown user, include file missing):
/// the outcome it gets instead.</param>
internal sealed record ExpandedTarget(AliasDestination Kind, string Value, UnixAccount? RunAs = null, SmtpAddress? Sender = null,
    DeliveryOutcome? Problem = null)
{
    /// <summary>Identifies the target within one expansion: duplicates are delivered once, done ones not again.</summary>
    public string Key => Kind + ":" + Value;

    /// <summary>The target as a log names it: <c>alice</c>, <c>bob@example.org</c>, <c>/var/log/x</c>, <c>|cmd</c>.</summary>
    public override string ToString() => Kind == AliasDestination.Command ? "|" + Value : Value;
}

/// <summary>The final targets of one alias and the loops met on the way.</summary>
internal sealed record AliasExpansionResult(IReadOnlyList<ExpandedTarget> Targets, IReadOnlyList<string> Loops);

/// <summary>
/// Expands an alias recursively. A name that is itself an alias is expanded again, unless it is the alias being
/// expanded (<c>alice: alice, bob</c> delivers to alice's mailbox, as Postfix) or written <c>\alice</c>; a name already on
/// the way down (<c>a: b</c>, <c>b: a</c>) is a loop: that branch stops and the loop is reported. Nesting, through
/// aliases or <c>:include:</c> files, stops at <c>Aliases:MaxDepth</c> with 5.4.6. An address in a local domain is a
/// local name; any other is forwarded. Files and commands run as the owner of the file that named them, or as
/// <c>Aliases:DefaultUser</c> when root owns it. An alias with an <c>owner-NAME</c> alias sends its forwarded copies from
/// <c>owner-NAME@domain</c>, so their bounces go to the list's owner. Duplicate targets are kept once.
/// </summary>
/// <param name="localDomains">The local domains in service (a reload may replace them).</param>
internal sealed class AliasExpander(AliasTable table, MtaOptions options, AliasAccounts accounts, Func<string, bool> isMailboxUser,
    Func<IReadOnlySet<string>> localDomains)
{
    private readonly AliasTable _table = table;
    private readonly MtaOptions _options = options;
    private readonly AliasAccounts _accounts = accounts;
    private readonly Func<string, bool> _isMailboxUser = isMailboxUser;
    private readonly Func<IReadOnlySet<string>> _localDomains = localDomains;

    /// <summary>Expands <paramref name="alias"/>, found for <paramref name="recipient"/>.</summary>
    public AliasExpansionResult Expand(AliasMatch alias, SmtpAddress recipient)
    {
        var walk = new Walk(this, recipient.Domain.Length > 0 ? recipient.Domain : _options.HostName);
        walk.Entry(alias, [alias.Entry.Name], walk.OwnerOf(alias.Entry.Name), 1);
        return new AliasExpansionResult(walk.Targets.Values.ToArray(), walk.Loops);
    }

    private sealed class Walk(AliasExpander expander, string domain)
    {
        private readonly AliasOptions _aliases = expander._table.Options;

        public Dictionary<string, ExpandedTarget> Targets { get; } = new(StringComparer.OrdinalIgnoreCase);
        public List<string> Loops { get; } = [];

        public SmtpAddress? OwnerOf(string name) =>
            expander._table.FindExact("owner-" + name) is not null ? new SmtpAddress("owner-" + name, domain) : null;

        public void Entry(AliasMatch alias, List<string> chain, SmtpAddress? sender, int depth) =>
            Each(alias.Entry.Name, alias.Entry.Targets, alias.File, chain, sender, depth);

        private void Each(string owner, IReadOnlyList<AliasTarget> targets, string file, List<string> chain, SmtpAddress? sender, int depth)
        {
            foreach (var target in targets)
            {
                switch (target.Kind)
                {
                    case AliasTargetKind.Local when target.NoExpand:
                        Mailbox(target.Value);
                        break;
                    case AliasTargetKind.Local:
                        Name(target.Value, owner, chain, sender, depth);
                        break;
                    case AliasTargetKind.Address:
                        var at = target.Value.LastIndexOf('@');
                        var (local, targetDomain) = (target.Value[..at], target.Value[(at + 1)..]);
                        if (expander._localDomains().Contains(targetDomain)) Name(local.ToLowerInvariant(), owner, chain, sender, depth);
                        else Add(new ExpandedTarget(AliasDestination.Remote, target.Value, Sender: sender));
                        break;
                    case AliasTargetKind.File:
                        Local(AliasDestination.File, target.Value, file, _aliases.AllowFiles, "mail to files");
                        break;
                    case AliasTargetKind.Command:
                        Local(AliasDestination.Command, target.Value, file, _aliases.AllowCommands, "mail to commands");
                        break;
                    case AliasTargetKind.Include:
                        Include(target.Value, owner, chain, sender, depth);
                        break;
                }
            }
        }

        private void Name(string name, string owner, List<string> chain, SmtpAddress? sender, int depth)
        {
            // An alias that names itself means its own mailbox (Postfix: "alice: alice, bob" keeps a copy for alice).
            if (string.Equals(name, owner, StringComparison.OrdinalIgnoreCase) || expander._table.Find(name) is not { } alias)
            {
                Mailbox(name);
                return;
            }
            if (chain.Contains(alias.Entry.Name, StringComparer.OrdinalIgnoreCase))
            {
                Loops.Add(string.Join(" -> ", chain) + " -> " + alias.Entry.Name);
                return;
            }
            if (depth + 1 > _aliases.MaxDepth)
            {
                TooDeep(alias.Entry.Name);
                return;
            }
            Entry(alias, [.. chain, alias.Entry.Name], OwnerOf(alias.Entry.Name) ?? sender, depth + 1);
        }

        private void Include(string path, string owner, List<string> chain, SmtpAddress? sender, int depth)
        {
            var key = ":include:" + path;
            if (chain.Contains(key, StringComparer.Ordinal))
            {
                Loops.Add(string.Join(" -> ", chain) + " -> " + key);
                return;
            }
            if (depth + 1 > _aliases.MaxDepth)
            {
                TooDeep(key);
                return;
            }
            IReadOnlyList<AliasTarget> targets;
            try
            {
                targets = expander._table.Include(path);
            }
            catch (Exception ex) when (ex is StartupException or FormatException or IOException or UnauthorizedAccessException)
            {
                // A list file being fixed or restored: keep the mail until it is back rather than lose the list's copies.
                Add(new ExpandedTarget(AliasDestination.File, key,
                    Problem: DeliveryOutcome.Deferred("4.3.5", $"4.3.5 cannot use include file {path}: {ex.Message}")));
                return;
            }
            // Targets of an include file run as the include file's owner, not as the alias file's.
            Each(owner, targets, path, [.. chain, key], sender, depth + 1);
        }

        private void Local(AliasDestination kind, string value, string file, bool allowed, string what)
        {
            if (!allowed)
            {
                Add(new ExpandedTarget(kind, value, Problem: DeliveryOutcome.Failed("5.7.1", $"5.7.1 {what} is restricted (Aliases:Allow{kind}s)")));
                return;
            }
            var (account, problem) = expander._accounts.RunAsFor(file, _aliases.DefaultUser);
            Add(account is not null ? new ExpandedTarget(kind, value, account)
                : new ExpandedTarget(kind, value, Problem: DeliveryOutcome.Deferred("4.3.0", "4.3.0 " + problem)));
        }

        private void Mailbox(string name)
        {
            if (name == "postmaster") name = expander._options.Mailboxes.Postmaster.ToLowerInvariant();
            DeliveryOutcome? problem = null;
            if (!MailboxNames.IsValid(name))
                problem = DeliveryOutcome.Failed("5.1.3", $"5.1.3 '{name}' cannot be a mailbox name");
            else if (!expander._isMailboxUser(name))
                problem = DeliveryOutcome.Failed("5.1.1", $"5.1.1 '{name}': no such local user (alias target)");
            Add(new ExpandedTarget(AliasDestination.Mailbox, name, Problem: problem));
        }

        private void TooDeep(string name) =>
            Add(new ExpandedTarget(AliasDestination.Mailbox, name,
                Problem: DeliveryOutcome.Failed("5.4.6", $"5.4.6 alias expansion deeper than Aliases:MaxDepth ({_aliases.MaxDepth}) at {name}")));

        private void Add(ExpandedTarget target) => Targets.TryAdd(target.Key, target);
    }
}
