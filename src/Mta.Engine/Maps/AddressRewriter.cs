// What the cleanup step does to an envelope before it is queued: canonical rewriting, then virtual alias expansion.
using Mta.Abstractions;
using Mta.Engine.Routing;
using Mta.Protocol;

namespace Mta.Engine.Maps;

/// <summary>The result of rewriting one recipient.</summary>
/// <param name="Recipients">What the recipient became: itself (perhaps rewritten), or the final targets of its aliases,
/// each carrying the original recipient as ORCPT; empty when <paramref name="Error"/> is set.</param>
/// <param name="Aliased">A virtual alias matched (the address is known to the alias tables).</param>
/// <param name="Error">The refusal when the expansion cannot be made: a loop, too deep, too many addresses.</param>
public readonly record struct Expansion(IReadOnlyList<EnvelopeRecipient> Recipients, bool Aliased, SmtpReply? Error);

/// <summary>
/// Rewrites envelope addresses as Postfix's cleanup(8) does before a message enters the queue: the sender by the
/// canonical sender maps; each recipient by the canonical recipient maps, then by the virtual alias files, recursively.
/// An alias lookup tries <c>user+detail@domain</c>, then <c>user@domain</c> (carrying the detail over), then, only when
/// the address has no mailbox of its own (a local user, a virtual mailbox user), the <c>@domain</c> catch-all. An
/// address that lists itself among its targets is kept (delivered to its own mailbox); one that comes back to itself
/// through other aliases is a loop and is refused, as is an expansion deeper than <see cref="MaxDepth"/> or wider than
/// <see cref="MaxAddresses"/>. Duplicates are dropped. Each changed recipient keeps the address the client gave as its
/// DSN original recipient (ORCPT <c>rfc822;address</c>) unless the client gave one.
/// </summary>
/// <param name="virtualMaps">The virtual domains and alias files.</param>
/// <param name="canonical">The canonical maps.</param>
/// <param name="localMailboxes">The local mailbox policy in service, asked at each lookup (a reload replaces it).</param>
public sealed class AddressRewriter(VirtualMaps virtualMaps, CanonicalMaps canonical, Func<LocalRecipientPolicy> localMailboxes)
{
    /// <summary>A rewriter over a fixed local mailbox policy.</summary>
    public AddressRewriter(VirtualMaps virtualMaps, CanonicalMaps canonical, LocalRecipientPolicy localMailboxes)
        : this(virtualMaps, canonical, () => localMailboxes)
    {
    }

    /// <summary>How many aliases deep an expansion may go. Postfix allows 1000; real alias chains are a few links long,
    /// and a deep one is a mistake.</summary>
    public const int MaxDepth = 20;

    /// <summary>How many addresses one recipient may become, as Postfix's virtual_alias_expansion_limit.</summary>
    public const int MaxAddresses = 1000;

    /// <summary>The virtual tables.</summary>
    public VirtualMaps Virtual => virtualMaps;

    /// <summary>The canonical tables.</summary>
    public CanonicalMaps Canonical => canonical;

    /// <summary>True when no map is configured: every address stays as it is.</summary>
    public bool IsEmpty => virtualMaps.IsEmpty && canonical.IsEmpty;

    /// <summary>The envelope sender after the canonical sender maps.</summary>
    public SmtpAddress RewriteSender(SmtpAddress sender) => canonical.RewriteSender(sender);

    /// <summary>True when <paramref name="address"/> has a mailbox of its own: a user of a virtual mailbox domain, or a
    /// recipient the local mailbox policy accepts. The catch-all applies only to addresses without one.</summary>
    public bool HasMailbox(SmtpAddress address)
    {
        if (virtualMaps.IsMailboxDomain(address.Domain))
        {
            if (virtualMaps.HasMailbox(address.Domain, address.LocalPart)) return true;
            var (user, detail) = AddressDetail.Split(address.LocalPart, virtualMaps.Delimiter);
            return detail is not null && virtualMaps.HasMailbox(address.Domain, user);
        }
        return virtualMaps.IsLocalDomain(address.Domain) && localMailboxes().Check(address.LocalPart) == LocalRecipientVerdict.Accepted;
    }

    /// <summary>Rewrites one recipient: canonical map, then virtual aliases.</summary>
    public Expansion Expand(EnvelopeRecipient recipient)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        var start = canonical.RewriteRecipient(recipient.Address);
        var walk = new Walk(this, recipient);
        if (virtualMaps.IsEmpty)
        {
            walk.Emit(start);
            return new Expansion(walk.Output, false, null);
        }
        var chain = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { Key(start) };
        var error = walk.Visit(start, 0, chain);
        return error is null ? new Expansion(walk.Output, walk.Aliased, null) : new Expansion([], walk.Aliased, error);
    }

    /// <summary>
    /// A whole envelope as it is queued: the sender rewritten, each recipient expanded, duplicates across recipients
    /// dropped. The receiver uses it at the end of DATA; any other way into the queue (the pickup of locally submitted
    /// mail) should too, as Postfix's cleanup serves smtpd and pickup alike.
    /// </summary>
    /// <returns>The new envelope, or the refusal of the first recipient whose expansion failed.</returns>
    public (SmtpAddress ReversePath, EnvelopeRecipient[] Recipients, SmtpReply? Error, EnvelopeRecipient? Failed) RewriteEnvelope(
        SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients)
    {
        ArgumentNullException.ThrowIfNull(recipients);
        if (IsEmpty) return (reversePath, [.. recipients], null, null);
        var output = new List<EnvelopeRecipient>(recipients.Count);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var recipient in recipients)
        {
            var expansion = Expand(recipient);
            if (expansion.Error is { } error) return (reversePath, [], error, recipient);
            // Two recipients that expand to one address get one copy, as Postfix's cleanup removes duplicates.
            foreach (var r in expansion.Recipients)
                if (seen.Add(Key(r.Address))) output.Add(r);
        }
        return (RewriteSender(reversePath), output.ToArray(), null, null);
    }

    /// <summary>The targets <paramref name="address"/> is an alias of, with the detail to carry over; null when it is none.</summary>
    private (MapTarget[] Targets, string? Extension)? Resolve(SmtpAddress address)
    {
        if (virtualMaps.TryGetAlias(address.LocalPart, address.Domain, out var targets)) return (targets, null);
        var (user, detail) = AddressDetail.Split(address.LocalPart, virtualMaps.Delimiter);
        if (detail is not null && virtualMaps.TryGetAlias(user, address.Domain, out targets)) return (targets, address.LocalPart[user.Length..]);
        if (HasMailbox(address)) return null;
        return virtualMaps.TryGetCatchAll(address.Domain, out targets) ? (targets, null) : null;
    }

    private static string Key(SmtpAddress address) => address.LocalPart + "@" + MapFile.NormalizeDomain(address.Domain);

    private sealed class Walk(AddressRewriter rewriter, EnvelopeRecipient original)
    {
        private readonly HashSet<string> _emitted = new(StringComparer.OrdinalIgnoreCase);

        public List<EnvelopeRecipient> Output { get; } = [];
        public bool Aliased { get; private set; }

        public SmtpReply? Visit(SmtpAddress address, int depth, HashSet<string> chain)
        {
            if (rewriter.Resolve(address) is not { } resolved)
            {
                Emit(address);
                return null;
            }
            var (targets, extension) = resolved;
            Aliased = true;
            foreach (var target in targets)
            {
                var next = target.Apply(address, extension, rewriter.Virtual.DefaultDomain);
                var key = Key(next);
                if (string.Equals(key, Key(address), StringComparison.OrdinalIgnoreCase))
                {
                    // "a@d a@d, b@x": a copy for the address itself, as Postfix delivers a self-reference.
                    Emit(address);
                    continue;
                }
                if (chain.Contains(key))
                    return new SmtpReply(550, "5.4.6", $"{original.Address.ToPathString()}: Recipient address rejected: virtual alias loop at {next.ToPathString()}");
                if (depth + 1 >= MaxDepth)
                    return new SmtpReply(550, "5.4.6", $"{original.Address.ToPathString()}: Recipient address rejected: virtual aliases nested more than {MaxDepth} deep");
                chain.Add(key);
                var error = Visit(next, depth + 1, chain);
                chain.Remove(key);
                if (error is not null) return error;
                if (Output.Count > MaxAddresses)
                    return new SmtpReply(550, "5.5.3", $"{original.Address.ToPathString()}: Recipient address rejected: virtual alias expands to more than {MaxAddresses} addresses");
            }
            return null;
        }

        public void Emit(SmtpAddress address)
        {
            if (!_emitted.Add(Key(address))) return;
            Output.Add(address == original.Address
                ? original
                : new EnvelopeRecipient(address, original.Notify, original.OriginalRecipient ?? "rfc822;" + original.Address));
        }
    }
}
