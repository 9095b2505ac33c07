// The built-in RCPT decision on the router's side: local mailboxes, and who may relay where.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Tests.Routing;

public sealed class RecipientPolicyTests
{
    private static readonly RecipientPolicy Policy = new(
        ["example.test", "localhost"],
        new LocalRecipientPolicy(new MailboxOptions { Users = ["alice"], SystemUsers = false }, _ => null));

    private static readonly RelayClient Stranger = new(IsTrusted: false, AuthenticatedUser: null);

    [Theory]
    [InlineData("alice", "example.test", true)]
    [InlineData("alice", "EXAMPLE.test.", true)]
    [InlineData("alice", "", true)]
    [InlineData("alice", "elsewhere.test", false)]
    [InlineData("alice", "sub.example.test", false)]
    public void Local_means_a_local_domain_or_none(string local, string domain, bool expected) =>
        Assert.Equal(expected, Policy.IsLocal(new SmtpAddress(local, domain)));

    [Fact]
    public void Local_recipients_are_the_mailbox_policy_s_whoever_asks()
    {
        var alice = new SmtpAddress("alice", "example.test");
        var mallory = new SmtpAddress("mallory", "example.test");
        Assert.True(Policy.Decide(alice, isLocal: true, Stranger).IsAccepted);
        var refused = Policy.Decide(mallory, isLocal: true, new RelayClient(IsTrusted: true, AuthenticatedUser: "bob"));
        Assert.False(refused.IsAccepted);
        Assert.Equal((550, "5.1.1"), (refused.Reply.Code, refused.Reply.EnhancedCode));
    }

    [Fact]
    public void Relaying_is_for_trusted_or_authenticated_clients_and_turn_domains_only()
    {
        var remote = new SmtpAddress("bob", "elsewhere.test");
        var denied = Policy.Decide(remote, isLocal: false, Stranger);
        Assert.False(denied.IsAccepted);
        Assert.Equal((554, "5.7.1"), (denied.Reply.Code, denied.Reply.EnhancedCode));
        Assert.Equal("<bob@elsewhere.test>: Relay access denied", string.Join(' ', denied.Reply.Lines));

        Assert.True(Policy.Decide(remote, isLocal: false, new RelayClient(IsTrusted: true, AuthenticatedUser: null)).IsAccepted);
        Assert.True(Policy.Decide(remote, isLocal: false, new RelayClient(IsTrusted: false, AuthenticatedUser: "carol")).IsAccepted);
        var turn = new RelayClient(false, null, new HashSet<string>(["elsewhere.test"], Domain.NameComparer));
        Assert.True(Policy.Decide(new SmtpAddress("bob", "Elsewhere.Test."), isLocal: false, turn).IsAccepted);
        Assert.False(Policy.Decide(new SmtpAddress("bob", "other.test"), isLocal: false, turn).IsAccepted);
    }
}
