// The /etc/aliases parser: every target form, continuation lines, quoting, comments, and errors that name file:line.
using Mta.Engine.Maps;

namespace Mta.Engine.Tests.Maps;

public sealed class AliasFileTests
{
    private static AliasFile Parse(string text) => AliasFile.Parse("/etc/aliases", text);

    private static AliasTarget[] Targets(string text, string name = "a") => Parse(text).Entries[name].Targets.ToArray();

    [Fact]
    public void Every_target_form_is_recognised()
    {
        var targets = Targets("a: bob, carol@Example.ORG, /var/log/mail.log, |/usr/bin/procmail -a x, :include:/etc/mail/list, \\alice\n");

        Assert.Equal(
        [
            new AliasTarget(AliasTargetKind.Local, "bob"),
            new AliasTarget(AliasTargetKind.Address, "carol@example.org"),
            new AliasTarget(AliasTargetKind.File, "/var/log/mail.log"),
            new AliasTarget(AliasTargetKind.Command, "/usr/bin/procmail -a x"),
            new AliasTarget(AliasTargetKind.Include, "/etc/mail/list"),
            new AliasTarget(AliasTargetKind.Local, "alice", NoExpand: true),
        ], targets);
    }

    [Fact]
    public void Continuation_lines_comments_and_blank_lines()
    {
        var file = Parse("""
            # Debian's default
            postmaster:    root

            staff: alice,
              bob
            	, carol
            # a comment between entries does not end the continuation above
              , dave
            root: admin   
            """);

        Assert.Equal(["postmaster", "root", "staff"], file.Entries.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["alice", "bob", "carol", "dave"], file.Entries["staff"].Targets.Select(t => t.Value));
        Assert.Equal(4, file.Entries["staff"].Line);
        Assert.Equal("admin", Assert.Single(file.Entries["root"].Targets).Value);
    }

    [Fact]
    public void Quoted_names_and_targets_keep_commas_and_spaces()
    {
        var file = Parse("\"list owner\": \"|/usr/bin/cmd \\\"a, b\\\" c\", \"/var/mail/a file\", \"john doe\"@example.org\r\n");

        var targets = file.Entries["list owner"].Targets;
        Assert.Equal(new AliasTarget(AliasTargetKind.Command, "/usr/bin/cmd \"a, b\" c"), targets[0]);
        Assert.Equal(new AliasTarget(AliasTargetKind.File, "/var/mail/a file"), targets[1]);
        Assert.Equal(new AliasTarget(AliasTargetKind.Address, "john doe@example.org"), targets[2]);
    }

    [Fact]
    public void Names_are_case_insensitive_and_stored_lower_case()
    {
        var file = Parse("Staff: Alice\n");

        Assert.True(file.Entries.ContainsKey("STAFF"));
        Assert.Equal("staff", file.Entries["staff"].Name);
        Assert.Equal("alice", file.Entries["staff"].Targets[0].Value);
    }

    [Fact]
    public void A_name_given_twice_keeps_the_first_entry_and_warns()
    {
        var file = Parse("a: b\nA: c\n");

        Assert.Equal("b", Assert.Single(file.Entries["a"].Targets).Value);
        Assert.Equal("/etc/aliases:2: duplicate alias 'a' ignored; the first entry (line 1) is used", Assert.Single(file.Warnings));
    }

    [Fact]
    public void A_trailing_comma_is_tolerated()
    {
        Assert.Equal(["b", "c"], Targets("a: b, c,\n").Select(t => t.Value));
    }

    [Theory]
    [InlineData("a b c\n", 1, "expected 'name: target")]
    [InlineData("# c\n\na: b\nnocolon\n", 4, "expected 'name: target")]
    [InlineData("  b\n", 1, "continuation line with no entry")]
    [InlineData("a:\n", 1, "'a' has no targets")]
    [InlineData("a: ,\n", 1, "has no targets")]
    [InlineData(": b\n", 1, "the alias name is empty")]
    [InlineData("a@example.org: b\n", 1, "without a domain")]
    [InlineData("a: b\nc: \"|cmd\n", 2, "quoted string is not closed")]
    [InlineData("a: |\n", 1, "without a command")]
    [InlineData("a: :include:relative/list\n", 1, "absolute path")]
    [InlineData("a: b@\n", 1, "is not an address")]
    [InlineData("a: x\"y\"z\n", 1, "quotes")]
    public void Errors_name_the_file_and_line(string text, int line, string why)
    {
        var ex = Assert.Throws<FormatException>(() => Parse(text));

        Assert.StartsWith($"/etc/aliases:{line}: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(why, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_include_file_lists_targets_one_or_more_per_line()
    {
        var targets = AliasFile.ParseInclude("/etc/mail/list", "# members\nalice\nbob, carol@example.org\n\n\"|/bin/cat\"\n");

        Assert.Equal(["alice", "bob", "carol@example.org", "/bin/cat"], targets.Select(t => t.Value));
        Assert.Equal(AliasTargetKind.Command, targets[3].Kind);
    }

    [Fact]
    public void An_include_file_error_names_its_own_file_and_line()
    {
        var ex = Assert.Throws<FormatException>(() => AliasFile.ParseInclude("/etc/mail/list", "alice\n\"bob\n"));

        Assert.StartsWith("/etc/mail/list:2: ", ex.Message, StringComparison.Ordinal);
    }
}
