// The header section as milters see it and change it: fields as Postfix sends them, edits by index, octets kept.
using System.Buffers;
using System.Text;
using Mta.Engine.Milter;

namespace Mta.Engine.Tests.Milter;

public sealed class MilterMessageEditorTests
{
    private const string Head = "From: a@b.test\r\nReceived: one\r\nSubject: folded\r\n\tsecond line\r\nReceived: two\r\n\r\nbody\r\n";

    private static MilterMessageEditor Parse(string message) => MilterMessageEditor.Parse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(message)));

    private static string Built(MilterMessageEditor editor) => Encoding.UTF8.GetString(editor.Build());

    [Fact]
    public void Fields_go_to_milters_as_Postfix_sends_them_with_folds_as_bare_LF()
    {
        var editor = Parse(Head);
        Assert.Equal([new("From", " a@b.test"), new("Received", " one"), new("Subject", " folded\n\tsecond line"), new("Received", " two")],
            editor.Headers());
        Assert.Equal(Head.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 2, editor.HeaderLength);
        Assert.Equal(editor.HeaderLength + 2, editor.BodyStart);
    }

    [Fact]
    public void Unchanged_fields_keep_their_octets()
    {
        var editor = Parse(Head);
        Assert.False(editor.Changed);
        Assert.Equal(Head[..editor.HeaderLength], Built(editor));
    }

    [Fact]
    public void Change_counts_fields_of_the_name_from_one_and_an_empty_value_deletes()
    {
        var editor = Parse(Head);
        editor.Change(2, "received", " TWO");
        editor.Change(1, "Subject", "");
        Assert.Equal("From: a@b.test\r\nReceived: one\r\nReceived: TWO\r\n", Built(editor));
        Assert.True(editor.Changed);
    }

    [Fact]
    public void Changing_a_field_that_is_not_there_adds_it_and_deleting_one_does_nothing()
    {
        var editor = Parse("From: a@b.test\r\n\r\n");
        editor.Change(3, "X-Missing", "");
        Assert.False(editor.Changed);
        editor.Change(1, "X-New", " value");
        Assert.Equal("From: a@b.test\r\nX-New: value\r\n", Built(editor));
    }

    [Fact]
    public void Insert_counts_every_field_from_zero_and_add_goes_last()
    {
        var editor = Parse(Head);
        editor.Insert(0, "DKIM-Signature", " v=1");
        editor.Insert(99, "X-End", " past the end");
        editor.Add("X-Last", " really last");
        var lines = Built(editor).Split("\r\n");
        Assert.Equal("DKIM-Signature: v=1", lines[0]);
        Assert.Equal(["X-End: past the end", "X-Last: really last", ""], lines[^3..]);
    }

    [Fact]
    public void A_value_with_line_breaks_is_folded_so_it_cannot_start_a_field_or_end_the_header()
    {
        var editor = Parse("From: a@b.test\r\n\r\n");
        editor.Add("X-Report", " line one\nInjected: yes\n\nbody?\r\n\tproper fold");
        Assert.Equal("From: a@b.test\r\nX-Report: line one\r\n\tInjected: yes\r\n\t\r\n\tbody?\r\n\tproper fold\r\n", Built(editor));
    }

    [Fact]
    public void A_message_without_a_body_is_all_header_and_a_line_that_is_no_field_ends_the_header()
    {
        var headerOnly = Parse("Subject: x\r\n");
        Assert.False(headerOnly.HasSeparator);
        Assert.Equal(12, headerOnly.BodyStart);
        var noField = Parse("Subject: x\r\nthis is body text\r\n");
        Assert.Single(noField.Headers());
        Assert.Equal(12, noField.HeaderLength);
    }
}
