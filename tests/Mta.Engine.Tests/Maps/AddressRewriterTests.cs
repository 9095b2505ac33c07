// Canonical rewriting and virtual alias expansion as the queue sees them, and the RCPT decisions built on them.
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Maps;
using Mta.Engine.Routing;

namespace Mta.Engine.Tests.Maps;

public sealed class AddressRewriterTests : IDisposable
{
    private static readonly RelayClient Stranger = new(IsTrusted: false, AuthenticatedUser: null);
    private readonly TestDirectory _dir = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
        _dir.Dispose();
    }

    private MtaOptions Options(string? aliases = null, string? recipientCanonical = null, string? senderCanonical = null)
    {
        var options = new MtaOptions
        {
            LocalDomains = ["local.test"],
            Mailboxes = new MailboxOptions { Users = ["alice", "bob"], SystemUsers = false, RecipientDelimiter = "+" },
        };
        options.Virtual.Domains["virt.test"] = new VirtualDomainOptions { Users = ["vera", "victor"] };
        if (aliases is not null) options.Virtual.AliasFiles.Add(Write("virtual", aliases));
        if (recipientCanonical is not null) options.Canonical.RecipientFiles.Add(Write("recipient_canonical", recipientCanonical));
        if (senderCanonical is not null) options.Canonical.SenderFiles.Add(Write("sender_canonical", senderCanonical));
        return options;
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllText(path, text);
        return path;
    }

    private (AddressRewriter Rewriter, RecipientPolicy Policy) Build(MtaOptions options)
    {
        var paths = new MtaPaths(options);
        var virtualMaps = new VirtualMaps(options, paths, NullLogger<VirtualMaps>.Instance, watch: false);
        var canonical = new CanonicalMaps(options, paths, NullLogger<CanonicalMaps>.Instance, watch: false);
        var relay = new RelayDomains(options, paths, NullLogger<RelayDomains>.Instance, watch: false);
        _owned.AddRange([virtualMaps, canonical, relay]);
        var local = new LocalRecipientPolicy(options.Mailboxes, _ => null);
        var rewriter = new AddressRewriter(virtualMaps, canonical, local);
        return (rewriter, new RecipientPolicy(options.LocalDomains, local, maps: rewriter, relayDomains: relay));
    }

    private static string[] Expand(AddressRewriter rewriter, string address)
    {
        var at = address.LastIndexOf('@');
        var expansion = rewriter.Expand(new EnvelopeRecipient(new SmtpAddress(address[..at], address[(at + 1)..])));
        Assert.Null(expansion.Error);
        return expansion.Recipients.Select(r => r.Address.ToString()).ToArray();
    }

    private static async Task<int> Rcpt(RecipientPolicy policy, string address, RelayClient? client = null)
    {
        var at = address.LastIndexOf('@');
        return (await policy.DecideAsync(new SmtpAddress(address[..at], address[(at + 1)..]), client ?? Stranger, CancellationToken.None)).Reply.Code;
    }

    [Fact]
    public void Aliases_expand_recursively_keep_the_original_as_ORCPT_and_drop_duplicates()
    {
        var (rewriter, _) = Build(Options(aliases: """
            team@virt.test      vera@virt.test, sales@virt.test, ext@remote.test
            sales@virt.test     victor@virt.test, vera@virt.test
            """));
        var expansion = rewriter.Expand(new EnvelopeRecipient(new SmtpAddress("team", "virt.test"), DsnNotify.Failure));
        Assert.True(expansion.Aliased);
        Assert.Equal(["vera@virt.test", "victor@virt.test", "ext@remote.test"], expansion.Recipients.Select(r => r.Address.ToString()));
        Assert.All(expansion.Recipients, r => Assert.Equal("rfc822;team@virt.test", r.OriginalRecipient));
        Assert.All(expansion.Recipients, r => Assert.Equal(DsnNotify.Failure, r.Notify));

        var given = rewriter.Expand(new EnvelopeRecipient(new SmtpAddress("team", "virt.test"), OriginalRecipient: "rfc822;first@elsewhere.test"));
        Assert.All(given.Recipients, r => Assert.Equal("rfc822;first@elsewhere.test", r.OriginalRecipient));
    }

    [Fact]
    public async Task A_self_reference_is_delivered_and_a_loop_refused()
    {
        var (rewriter, policy) = Build(Options(aliases: """
            vera@virt.test    vera@virt.test, copy@remote.test
            a@virt.test       b@virt.test
            b@virt.test       c@virt.test
            c@virt.test       a@virt.test
            """));
        Assert.Equal(["vera@virt.test", "copy@remote.test"], Expand(rewriter, "vera@virt.test"));
        var loop = rewriter.Expand(new EnvelopeRecipient(new SmtpAddress("a", "virt.test")));
        Assert.Equal("5.4.6", loop.Error?.EnhancedCode);
        Assert.Equal(550, await Rcpt(policy, "a@virt.test"));
    }

    [Fact]
    public async Task Catch_all_applies_only_to_addresses_without_a_mailbox_or_alias()
    {
        var (rewriter, policy) = Build(Options(aliases: """
            @virt.test         postmaster@local.test
            info@virt.test     bob@local.test
            @local.test        alice@local.test
            """));
        Assert.Equal(["vera@virt.test"], Expand(rewriter, "vera@virt.test"));
        Assert.Equal(["vera+news@virt.test"], Expand(rewriter, "vera+news@virt.test"));
        Assert.Equal(["bob@local.test"], Expand(rewriter, "info@virt.test"));
        Assert.Equal(["postmaster@local.test"], Expand(rewriter, "nobody@virt.test"));
        Assert.Equal(["bob@local.test"], Expand(rewriter, "bob@local.test"));
        Assert.Equal(["alice@local.test"], Expand(rewriter, "stranger@local.test"));
        Assert.Equal(250, await Rcpt(policy, "nobody@virt.test"));
        Assert.Equal(250, await Rcpt(policy, "stranger@local.test"));
    }

    [Fact]
    public async Task Virtual_mailbox_users_are_accepted_and_strangers_refused_with_5_1_1()
    {
        var (_, policy) = Build(Options());
        Assert.Equal(250, await Rcpt(policy, "vera@virt.test"));
        Assert.Equal(250, await Rcpt(policy, "VERA+tag@Virt.Test"));
        Assert.Equal(550, await Rcpt(policy, "nobody@virt.test"));
        Assert.True(policy.IsLocal(new SmtpAddress("vera", "virt.test")));
    }

    [Fact]
    public async Task A_domain_named_only_in_the_alias_file_accepts_its_aliases_from_anyone_and_nothing_else()
    {
        var (rewriter, policy) = Build(Options(aliases: "sales@alias.test  bob@local.test\n"));
        Assert.Equal(250, await Rcpt(policy, "sales@alias.test"));
        Assert.Equal(550, await Rcpt(policy, "other@alias.test"));
        Assert.True(rewriter.Virtual.IsAliasDomain("alias.test"));
        // Other remote domains are still relaying, refused to strangers.
        Assert.Equal(554, await Rcpt(policy, "x@remote.test"));
    }

    [Fact]
    public async Task The_detail_is_carried_over_when_only_the_user_part_matched()
    {
        var (rewriter, policy) = Build(Options(
            aliases: "sales@virt.test  victor@virt.test\nexact+x@virt.test  vera@virt.test\n",
            recipientCanonical: "carol@local.test  bob@local.test\n"));
        Assert.Equal(["victor+q1@virt.test"], Expand(rewriter, "sales+q1@virt.test"));
        Assert.Equal(["vera@virt.test"], Expand(rewriter, "exact+x@virt.test"));
        Assert.Equal(["bob+news@local.test"], Expand(rewriter, "carol+news@local.test"));
        Assert.Equal(250, await Rcpt(policy, "alice+anything@local.test"));
        Assert.Equal(550, await Rcpt(policy, "mallory+x@local.test"));
    }

    [Fact]
    public async Task Canonical_maps_rewrite_sender_and_recipient_before_the_aliases()
    {
        var (rewriter, policy) = Build(Options(
            aliases: "robert@local.test  vera@virt.test\n",
            recipientCanonical: "@old.test  @local.test\nbobby  robert\n",
            senderCanonical: "alice@local.test  alice.smith@example.test\n@legacy.test @example.test\n"));
        Assert.Equal(new SmtpAddress("alice.smith", "example.test"), rewriter.RewriteSender(new SmtpAddress("alice", "local.test")));
        Assert.Equal(new SmtpAddress("joe", "example.test"), rewriter.RewriteSender(new SmtpAddress("joe", "legacy.test")));
        Assert.Equal(SmtpAddress.Null, rewriter.RewriteSender(SmtpAddress.Null));
        Assert.Equal(["bob@local.test"], Expand(rewriter, "bob@old.test"));
        var expansion = rewriter.Expand(new EnvelopeRecipient(new SmtpAddress("bobby", "local.test")));
        Assert.Equal("vera@virt.test", Assert.Single(expansion.Recipients).Address.ToString());
        Assert.Equal("rfc822;bobby@local.test", expansion.Recipients[0].OriginalRecipient);
        // The canonical form decides RCPT: old.test is not relaying once it maps to a local domain.
        Assert.Equal(250, await Rcpt(policy, "alice@old.test"));
        Assert.Equal(550, await Rcpt(policy, "mallory@old.test"));
    }

    [Fact]
    public void A_whole_envelope_is_rewritten_with_duplicates_across_recipients_dropped()
    {
        var (rewriter, _) = Build(Options(
            aliases: "team@virt.test  vera@virt.test, victor@virt.test\nloop@virt.test  loop2@virt.test\nloop2@virt.test  loop@virt.test\n",
            senderCanonical: "alice  alice.smith@example.test\n"));
        var (sender, recipients, error, _) = rewriter.RewriteEnvelope(new SmtpAddress("alice", "local.test"),
            [new EnvelopeRecipient(new SmtpAddress("team", "virt.test")), new EnvelopeRecipient(new SmtpAddress("vera", "virt.test"))]);
        Assert.Null(error);
        Assert.Equal(new SmtpAddress("alice.smith", "example.test"), sender);
        Assert.Equal(["vera@virt.test", "victor@virt.test"], recipients.Select(r => r.Address.ToString()));

        var failed = rewriter.RewriteEnvelope(SmtpAddress.Null, [new EnvelopeRecipient(new SmtpAddress("loop", "virt.test"))]);
        Assert.Equal("5.4.6", failed.Error?.EnhancedCode);
        Assert.Equal("loop@virt.test", failed.Failed?.Address.ToString());
    }

    [Fact]
    public void A_changed_alias_file_is_taken_on_reload_and_a_bad_new_config_keeps_the_old_tables()
    {
        var options = Options(aliases: "sales@virt.test  vera@virt.test\n");
        var (rewriter, _) = Build(options);
        File.WriteAllText(options.Virtual.AliasFiles[0], "sales@virt.test  victor@virt.test\n");
        rewriter.Virtual.Reload(options);
        Assert.Equal(["victor@virt.test"], Expand(rewriter, "sales@virt.test"));

        var broken = Options(aliases: "sales@virt.test  victor@virt.test\n");
        broken.Virtual.AliasFiles.Add(Path.Combine(_dir.Path, "missing"));
        var error = Assert.Throws<StartupException>(() => rewriter.Virtual.Reload(broken));
        Assert.Contains("Virtual:AliasFiles:1", error.Message, StringComparison.Ordinal);
        Assert.Equal(["victor@virt.test"], Expand(rewriter, "sales@virt.test"));
        Assert.Equal(["Virtual:AliasFiles:1: " + Path.Combine(_dir.Path, "missing") + ": file not found"], VirtualMaps.Check(broken, new MtaPaths(broken)));
    }
}
