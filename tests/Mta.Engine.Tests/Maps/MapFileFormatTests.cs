// The map file parsers: virtual(5), canonical(5), virtual users and relay recipients, and the errors that name file:line.
using Mta.Abstractions;
using Mta.Engine.Maps;
using Mta.Engine.Routing;

namespace Mta.Engine.Tests.Maps;

public sealed class MapFileFormatTests
{
    private static AddressTable<MapTarget[]> Virtual(string text) => VirtualAliasFile.Parse(new StringReader(text), "virtual");

    [Fact]
    public void Virtual_file_forms_comments_continuations_and_lists()
    {
        var table = Virtual("""
            # the sales team
            sales@example.org   alice@example.org, bob@remote.test
                                carol
              # an indented comment
            @example.org        catchall@example.org
            postmaster          root@example.org
            info@Example.ORG.   @other.test
            """);

        Assert.True(table.TryGetExact("sales", "example.org", domainIsLocal: false, out var sales));
        Assert.Equal(["alice@example.org", "bob@remote.test", "carol"], sales.Select(t => t.ToString()));
        Assert.True(table.TryGetExact("SALES", "EXAMPLE.org", false, out _));
        Assert.True(table.TryGetCatchAll("example.org", out var all));
        Assert.Equal("catchall@example.org", Assert.Single(all).ToString());
        Assert.True(table.TryGetExact("postmaster", "anything.test", domainIsLocal: true, out _));
        Assert.False(table.TryGetExact("postmaster", "anything.test", domainIsLocal: false, out _));
        Assert.True(table.TryGetExact("info", "example.org", false, out var info));
        Assert.Equal("@other.test", Assert.Single(info).ToString());
        Assert.Equal(["example.org"], table.KeyDomains);
    }

    [Theory]
    [InlineData("a@b.test\n", 1)]
    [InlineData("ok@b.test x@y.test\nbad@ target@x.test\n", 2)]
    [InlineData("# c\n\nok@b.test x@y.test\n@ x@y.test\n", 4)]
    [InlineData("ok@b.test not an@address@x\n", 1)]
    [InlineData("  leading continuation\n", 1)]
    [InlineData("a@b.test x@y.test\nc@d.test <x@y.test>\n", 2)]
    public void A_bad_line_is_a_FormatException_naming_file_and_line(string text, int line)
    {
        var error = Assert.Throws<FormatException>(() => Virtual(text));
        Assert.StartsWith($"virtual:{line}: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Canonical_map_has_exactly_one_target_per_key()
    {
        var table = CanonicalFile.Parse(new StringReader("""
            alice@old.test    alice.smith@new.test
            @legacy.test      @new.test
            bob               robert
            """), "canonical");
        Assert.True(table.TryGetExact("alice", "old.test", false, out var alice));
        Assert.Equal("alice.smith@new.test", alice.ToString());
        Assert.True(table.TryGetCatchAll("legacy.test", out var legacy));
        Assert.Equal(new SmtpAddress("carol", "new.test"), legacy.Apply(new SmtpAddress("carol", "legacy.test"), null, "local.test"));
        Assert.True(table.TryGetExact("bob", "local.test", true, out var bob));
        Assert.Equal(new SmtpAddress("robert", "local.test"), bob.Apply(new SmtpAddress("bob", "local.test"), null, "local.test"));

        var error = Assert.Throws<FormatException>(() => CanonicalFile.Parse(new StringReader("a@b.test x@y.test, z@y.test\n"), "canonical"));
        Assert.StartsWith("canonical:1: ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Virtual_users_file_takes_names_and_names_at_its_own_domain()
    {
        var users = VirtualUsersFile.Parse(new StringReader("# users\nbob\ncarol@virt.test\n"), "users", "virt.test");
        Assert.True(users.SetEquals(["bob", "carol"]));
        Assert.Contains("BOB", users);
        Assert.StartsWith("users:1: ", Assert.Throws<FormatException>(() => VirtualUsersFile.Parse(new StringReader("dave@other.test\n"), "users", "virt.test")).Message, StringComparison.Ordinal);
        Assert.StartsWith("users:2: ", Assert.Throws<FormatException>(() => VirtualUsersFile.Parse(new StringReader("ok\n../etc\n"), "users", "virt.test")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Relay_recipients_by_address_user_part_and_domain()
    {
        var list = RelayRecipientList.Parse(new StringReader("alice@relay.test OK\n@all.relay.test\n"), "relay");
        Assert.True(list.Contains(new SmtpAddress("Alice", "relay.test"), null));
        Assert.True(list.Contains(new SmtpAddress("alice+tag", "relay.test"), "+"));
        Assert.False(list.Contains(new SmtpAddress("alice+tag", "relay.test"), null));
        Assert.False(list.Contains(new SmtpAddress("bob", "relay.test"), "+"));
        Assert.True(list.Contains(new SmtpAddress("anyone", "all.relay.test"), null));
        Assert.StartsWith("relay:1: ", Assert.Throws<FormatException>(() => RelayRecipientList.Parse(new StringReader("nobody\n"), "relay")).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alice+tag", "+", "alice", "tag")]
    [InlineData("alice-tag+x", "+-", "alice", "tag+x")]
    [InlineData("alice+tag", null, "alice+tag", null)]
    [InlineData("+tag", "+", "+tag", null)]
    [InlineData("alice", "+", "alice", null)]
    public void The_delimiter_splits_at_its_first_character(string localPart, string? delimiters, string user, string? detail) =>
        Assert.Equal((user, detail), AddressDetail.Split(localPart, delimiters));
}
