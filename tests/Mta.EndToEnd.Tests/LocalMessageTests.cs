// How sendmail reads and fixes up a local message: the "." rule and -i, line ends, -t recipients (Bcc, groups, folded
// fields, Resent-*), Bcc removed, and the Date, Message-ID and From that Postfix's cleanup adds to local mail.
using System.Text;
using Mta.Sendmail;

namespace Mta.EndToEnd.Tests;

public sealed class LocalMessageTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    private static async Task<string> ReadAsync(string input, bool ignoreDots) =>
        Encoding.UTF8.GetString((await LocalMessage.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(input)), ignoreDots, 1 << 20, CancellationToken.None))!);

    private static IReadOnlyList<string> Recipients(string message) =>
        LocalMessage.HeaderRecipients(LocalMessage.Split(Encoding.UTF8.GetBytes(message.ReplaceLineEndings("\r\n"))).Header);

    private static string FixUp(string message, bool removeBcc = true, string? fullName = null) =>
        Encoding.UTF8.GetString(LocalMessage.FixUp(Encoding.UTF8.GetBytes(message.ReplaceLineEndings("\r\n")), removeBcc, "alice@mta.test", fullName, "mta.test", Now));

    [Fact]
    public async Task A_lone_dot_ends_the_message_without_i()
    {
        Assert.Equal("Subject: a\r\n\r\nbody\r\n", await ReadAsync("Subject: a\n\nbody\n.\nafter\n", ignoreDots: false));
    }

    [Fact]
    public async Task With_i_a_lone_dot_is_a_line_like_any_other()
    {
        Assert.Equal("Subject: a\r\n\r\nbody\r\n.\r\nafter\r\n", await ReadAsync("Subject: a\n\nbody\n.\nafter\n", ignoreDots: true));
    }

    [Fact]
    public async Task Line_ends_become_crlf_and_a_last_line_without_one_is_kept()
    {
        Assert.Equal("a\r\nb\r\nc\r\n", await ReadAsync("a\r\nb\nc", ignoreDots: false));
    }

    [Fact]
    public async Task A_message_over_the_limit_is_refused()
    {
        Assert.Null(await LocalMessage.ReadAsync(new MemoryStream(new byte[5000]), true, 1000, CancellationToken.None));
    }

    [Fact]
    public void Recipients_from_to_cc_and_bcc()
    {
        Assert.Equal(["bob@example.org", "carol@example.org", "dave@example.org"],
            Recipients("To: Bob <bob@example.org>\nCc: carol@example.org\nBcc: dave@example.org\nSubject: x\n\nbody\n"));
    }

    [Fact]
    public void Groups_give_their_members_and_an_empty_group_nothing()
    {
        Assert.Equal(["a@example.org", "c@example.org", "e@example.org"],
            Recipients("To: team: a@example.org, C <c@example.org>;, undisclosed-recipients:;\nCc: e@example.org\n\nbody\n"));
    }

    [Fact]
    public void Folded_fields_are_read_whole()
    {
        Assert.Equal(["a@example.org", "b@example.org", "c@example.org"],
            Recipients("Subject: x\nTo: a@example.org,\n  B\n\t<b@example.org>,\n c@example.org\n\nbody\n"));
    }

    [Fact]
    public void Resent_fields_when_present_replace_the_originals()
    {
        Assert.Equal(["new@example.org", "hidden@example.org"],
            Recipients("To: old@example.org\nResent-To: new@example.org\nResent-Bcc: hidden@example.org\nResent-From: x@example.org\n\nbody\n"));
    }

    [Fact]
    public void Bare_local_names_are_kept_for_qualifying()
    {
        Assert.Equal(["root"], Recipients("To: root\n\nbody\n"));
        Assert.Equal("root@mta.test", LocalMessage.Qualify("root", "mta.test"));
        Assert.Equal("a@b.test", LocalMessage.Qualify("a@b.test", "mta.test"));
    }

    [Fact]
    public void A_body_without_a_header_gives_no_recipients() => Assert.Empty(Recipients("just a body line\n"));

    [Fact]
    public void Bcc_and_resent_bcc_are_removed_with_t()
    {
        var fixedUp = FixUp("To: a@example.org\nBcc: secret@example.org,\n  other@example.org\nResent-Bcc: s2@example.org\nSubject: x\n\nBcc: in the body stays\n");
        Assert.DoesNotContain("secret@", fixedUp);
        Assert.DoesNotContain("other@", fixedUp);
        Assert.DoesNotContain("s2@", fixedUp);
        Assert.Contains("\r\n\r\nBcc: in the body stays\r\n", fixedUp);
        Assert.Contains("To: a@example.org\r\n", fixedUp);
    }

    [Fact]
    public void Bcc_stays_without_t() => Assert.Contains("Bcc: secret@example.org", FixUp("Bcc: secret@example.org\n\nbody\n", removeBcc: false));

    [Fact]
    public void Date_message_id_and_from_are_added_when_missing()
    {
        var fixedUp = FixUp("Subject: x\n\nbody\n", fullName: "Alice Liddell");
        Assert.Contains("From: Alice Liddell <alice@mta.test>\r\n", fixedUp);
        Assert.Contains("Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n", fixedUp);
        Assert.Matches(@"Message-Id: <[^@>]+@mta\.test>\r\n", fixedUp);
        Assert.EndsWith("\r\n\r\nbody\r\n", fixedUp);
    }

    [Fact]
    public void Fields_present_are_left_as_they_are()
    {
        const string message = "From: Someone <s@example.org>\nDate: Mon, 1 Dec 2025 00:00:00 +0000\nMessage-ID: <x@y>\nSubject:  spaced\n  folded\n\nbody\n";
        Assert.Equal(message.ReplaceLineEndings("\r\n"), FixUp(message));
    }

    [Fact]
    public void A_body_only_message_gets_a_header()
    {
        var fixedUp = FixUp("hello there\n");
        Assert.StartsWith("From: alice@mta.test\r\n", fixedUp);
        Assert.EndsWith("\r\n\r\nhello there\r\n", fixedUp);
    }

    [Fact]
    public void Command_line_recipients_may_carry_names_and_commas()
    {
        Assert.True(LocalMessage.TryParseAddresses("Bob <bob@example.org>, carol", out var addresses));
        Assert.Equal(["bob@example.org", "carol"], addresses);
        Assert.False(LocalMessage.TryParseAddresses("<>", out _));
    }
}
