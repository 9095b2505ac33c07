// The mailbox-name rule and the built-in local recipient policy: which local parts RCPT accepts, and with which refusal.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Routing;
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Routing;

public sealed class LocalRecipientPolicyTests
{
    [Theory]
    [InlineData("alice")]
    [InlineData("Alice.Smith")]
    [InlineData("a_b-c+tag")]
    [InlineData("x")]
    [InlineData("jösé")]
    [InlineData("jose\u0301")] // decomposed é: a letter and its combining mark
    [InlineData("日本")]
    public void Mailbox_names_that_can_be_a_Maildir(string name) => Assert.True(MailboxNames.IsValid(name));

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData(".hidden")]
    [InlineData("trailing.")]
    [InlineData("a..b")]
    [InlineData("../etc")]
    [InlineData("a/b")]
    [InlineData("a\\b")]
    [InlineData("a b")]
    [InlineData("a\"b")]
    [InlineData("a\tb")]
    [InlineData("a\u0001b")]
    [InlineData("a\0b")]
    [InlineData("a@b")]
    [InlineData("a%b")]
    [InlineData("a!b")]
    [InlineData("rocket🚀")]
    public void Names_that_cannot_be_a_mailbox(string name) => Assert.False(MailboxNames.IsValid(name));

    [Fact]
    public void At_most_64_octets_counted_in_UTF_8()
    {
        Assert.True(MailboxNames.IsValid(new string('a', 64)));
        Assert.False(MailboxNames.IsValid(new string('a', 65)));
        Assert.True(MailboxNames.IsValid(new string('ö', 32)));  // 64 octets
        Assert.False(MailboxNames.IsValid(new string('ö', 33))); // 66 octets, 33 characters
    }

    [Fact]
    public void Delivery_and_the_config_validator_use_the_same_rule()
    {
        foreach (var name in new[] { "alice", "a..b", ".x", "a/b", "jösé", new string('a', 65) })
        {
            Assert.Equal(MailboxNames.IsValid(name), MaildirDelivery.IsValidUser(name));
            Assert.Equal(MailboxNames.IsValid(name), MtaOptionsValidator.IsMailboxName(name));
        }
    }

    private static LocalRecipientPolicy Policy(Action<MailboxOptions> configure, Func<string, uint?>? uidOf = null)
    {
        var options = new MailboxOptions();
        configure(options);
        return new LocalRecipientPolicy(options, uidOf ?? (_ => null));
    }

    [Fact]
    public void Default_accepts_only_postmaster_configured_and_system_users()
    {
        var policy = Policy(o => o.Users = ["alice"], name => name switch { "bob" => 1001, "daemon" => 1, "nobody" => 65534, _ => null });
        Assert.False(new MailboxOptions().AcceptAnyLocalPart);
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("postmaster"));
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("PostMaster"));
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("ALICE"));
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("Bob"));      // system user, looked up lower-cased
        Assert.Equal(LocalRecipientVerdict.Unknown, policy.Check("daemon"));    // below MinSystemUid
        Assert.Equal(LocalRecipientVerdict.Unknown, policy.Check("nobody"));    // above MaxSystemUid
        Assert.Equal(LocalRecipientVerdict.Unknown, policy.Check("mallory"));
        Assert.Equal(LocalRecipientVerdict.NotAMailboxName, policy.Check("a/b"));
    }

    [Fact]
    public void AcceptAnyLocalPart_accepts_every_mailbox_name_but_never_an_impossible_one()
    {
        var asked = 0;
        var policy = Policy(o => o.AcceptAnyLocalPart = true, _ => { asked++; return null; });
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("anyone"));
        Assert.Equal(LocalRecipientVerdict.NotAMailboxName, policy.Check(".."));
        Assert.Equal(LocalRecipientVerdict.NotAMailboxName, policy.Check("a b"));
        Assert.Equal(0, asked);
    }

    [Fact]
    public void Without_SystemUsers_the_passwd_database_is_not_asked()
    {
        var policy = Policy(o => o.SystemUsers = false, _ => throw new InvalidOperationException("asked"));
        Assert.Equal(LocalRecipientVerdict.Unknown, policy.Check("bob"));
    }

    [Fact]
    public void Impossible_names_are_refused_before_the_passwd_database_sees_them()
    {
        var policy = Policy(_ => { }, _ => throw new InvalidOperationException("asked"));
        Assert.Equal(LocalRecipientVerdict.NotAMailboxName, policy.Check("../root"));
    }

    [Fact]
    public void Replies_are_550_with_5_1_3_or_5_1_1()
    {
        var policy = Policy(o => o.SystemUsers = false);
        var bad = policy.Reply(new SmtpAddress("a b", "example.test"));
        Assert.Equal((550, "5.1.3"), (bad.Code, bad.EnhancedCode));
        Assert.Contains("cannot be a mailbox name", bad.Lines[0]);
        var unknown = policy.Reply(new SmtpAddress("bob", "example.test"));
        Assert.Equal((550, "5.1.1"), (unknown.Code, unknown.EnhancedCode));
        Assert.Equal(250, policy.Reply(new SmtpAddress("postmaster", "")).Code);
    }

    [Fact]
    public void Describe_says_what_is_accepted()
    {
        Assert.Contains("AcceptAnyLocalPart", Policy(o => o.AcceptAnyLocalPart = true).Describe());
        var strict = Policy(o => o.Users = ["a", "b"]).Describe();
        Assert.Contains("2 user(s)", strict);
        Assert.Contains("uid 1000-60000", strict);
        Assert.Contains("5.1.1", strict);
    }

    [Fact]
    public void The_passwd_database_knows_root_as_uid_0()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "no passwd database on Windows");
        Assert.Equal(0u, UnixUsers.UidOf("root"));
        Assert.Null(UnixUsers.UidOf("no-such-user-" + Guid.NewGuid().ToString("n")[..8]));
        Assert.Equal("root", UnixUsers.NameOf(0));
    }
}
