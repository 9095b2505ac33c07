// TerminalText: escape sequences (7- and 8-bit), controls, bidi overrides and size limits never reach a terminal; the text part is chosen well.
using System.Text;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Terminal;
using Mta.Engine.Tests.Bounces;

namespace Mta.Engine.Tests.Terminal;

public sealed class TerminalTextTests
{
    private const string Esc = "\u001b";
    private static readonly SmtpAddress Alice = new("alice", "example.test");

    [Theory]
    // CSI: colours, cursor moves, erase screen, private modes, with intermediates.
    [InlineData("a" + Esc + "[31mred" + Esc + "[0m b", "ared b")]
    [InlineData(Esc + "[2J" + Esc + "[H" + Esc + "[?1049hx", "x")]
    [InlineData("a" + Esc + "[1;2 qb", "ab")]
    [InlineData("a" + Esc + "[6n" + "b", "ab")]                                   // device status report: would type into the shell
    // OSC ended by BEL or by ST (ESC \): window title, clipboard write (OSC 52), hyperlinks (OSC 8).
    [InlineData(Esc + "]0;evil title\u0007after", "after")]
    [InlineData(Esc + "]52;c;ZWNobyBwd25lZA==" + Esc + "\\after", "after")]
    [InlineData(Esc + "]8;;http://evil.test" + Esc + "\\click" + Esc + "]8;;" + Esc + "\\", "click")]
    // DCS, SOS, PM, APC strings with their content.
    [InlineData("a" + Esc + "Pq#0;2;0;0;0" + Esc + "\\b", "ab")]
    [InlineData("a" + Esc + "Xsos" + Esc + "\\b" + Esc + "^pm" + Esc + "\\c" + Esc + "_apc" + Esc + "\\d", "abcd")]
    // Short escapes: charset designation, save cursor, full reset, keypad mode.
    [InlineData("a" + Esc + "(0b" + Esc + "(Bc", "abc")]
    [InlineData("a" + Esc + "7b" + Esc + "8c" + Esc + "cd" + Esc + "=e", "abcde")]
    [InlineData("a" + Esc + "#8b", "ab")]
    // A lone ESC, at the end or before a control.
    [InlineData("a" + Esc, "a")]
    // ESC ESC b: the second ESC cancels the first and starts ESC b, as a terminal reads it.
    [InlineData("a" + Esc + Esc + "b", "a")]
    [InlineData("a" + Esc + "\nb", "a\nb")]
    // 8-bit C1 forms: CSI U+009B with its parameters, OSC U+009D to ST U+009C, DCS U+0090, NEL, lone C1s.
    [InlineData("x\u009b31my", "xy")]
    [InlineData("\u009b2Jclear", "clear")]
    [InlineData("a\u009d0;title\u009cb", "ab")]
    [InlineData("a\u0090q\u009cb", "ab")]
    [InlineData("a\u0085b\u0084c\u008dd\u009ce", "abcde")]
    // C0 controls, DEL, BEL, NUL, backspace (overwrites), form feed, vertical tab.
    [InlineData("a\bb\0c\u007fd\u0007e\ff\vg", "abcdefg")]
    // Line ends: CRLF and a lone CR (which would return to the line start and overwrite it) become LF.
    [InlineData("one\r\ntwo\rthree\nfour", "one\ntwo\nthree\nfour")]
    [InlineData("fake prompt\rreal", "fake prompt\nreal")]
    // Kept: tabs, newlines, ordinary Unicode, emoji.
    [InlineData("a\tb\nc é ü 日本 \U0001F600", "a\tb\nc é ü 日本 \U0001F600")]
    // Bidi embeddings, overrides and isolates (Trojan Source).
    [InlineData("\u202Eevil\u202C ok", "evil ok")]
    [InlineData("a\u202Ab\u202Bc\u202Dd\u2066e\u2067f\u2068g\u2069h", "abcdefgh")]
    // An unterminated string sequence costs its line only.
    [InlineData("a" + Esc + "]0;never ended\nnext line", "a\nnext line")]
    [InlineData("a\u009dnever ended\nnext", "a\nnext")]
    public void Sanitize_strips_everything_a_terminal_would_act_on(string input, string expected) =>
        Assert.Equal(expected, TerminalText.Sanitize(input));

    [Fact]
    public void Single_line_mode_turns_newlines_and_tabs_into_spaces()
    {
        Assert.Equal("a b c d", TerminalText.Sanitize("a\nb\tc\r\nd", singleLine: true));
        Assert.Equal("", TerminalText.Sanitize(null));
    }

    [Fact]
    public void A_lone_surrogate_becomes_the_replacement_character()
    {
        Assert.Equal("a\uFFFDb\uFFFDc", TerminalText.Sanitize("a\uD800b\uDC00c"));
        Assert.Equal("\U0001F600", TerminalText.Sanitize("\U0001F600"));
    }

    [Fact]
    public void Clean_text_comes_back_as_the_same_instance()
    {
        const string clean = "plain text\nwith\ttabs";
        Assert.Same(clean, TerminalText.Sanitize(clean));
    }

    [Fact]
    public void Random_input_never_leaves_a_control_character_behind()
    {
        var random = new Random(821);
        var alphabet = new[] { '\u001b', '[', ']', 'P', '\\', '\u0007', '\u009b', '\u009c', '\u009d', '\u0090', '\r', '\n', '\t', '\0', '\u007f',
            '\u0085', '\u202e', '\u2066', 'a', '1', ';', 'm', ' ', '\uD83D', '\uDE00', 'é' };
        for (var round = 0; round < 5000; round++)
        {
            var chars = new char[random.Next(0, 60)];
            for (var i = 0; i < chars.Length; i++) chars[i] = alphabet[random.Next(alphabet.Length)];
            var output = TerminalText.Sanitize(new string(chars));
            AssertSafe(output, new string(chars));
            Assert.Equal(output, TerminalText.Sanitize(output));
        }
    }

    private static void AssertSafe(string output, string input)
    {
        for (var i = 0; i < output.Length; i++)
        {
            var c = output[i];
            Assert.False(c < 0x20 && c is not ('\n' or '\t'), $"control U+{(int)c:X4} left from {Escape(input)}");
            Assert.False(c is >= '\u007f' and <= '\u009f', $"DEL/C1 U+{(int)c:X4} left from {Escape(input)}");
            Assert.False(c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069'), $"bidi U+{(int)c:X4} left from {Escape(input)}");
            if (char.IsHighSurrogate(c)) Assert.True(i + 1 < output.Length && char.IsLowSurrogate(output[++i]), "broken surrogate pair");
            else Assert.False(char.IsLowSurrogate(c), "lone low surrogate");
        }
    }

    private static string Escape(string s) => string.Concat(s.Select(c => c is >= ' ' and < '\u007f' ? c.ToString() : $"\\u{(int)c:X4}"));

    [Fact]
    public void Short_text_is_not_limited()
    {
        var text = new string('x', 4096);
        Assert.Same(text, TerminalText.Limit(text, 4096));
    }

    [Theory]
    [InlineData(4097, 4096)]
    [InlineData(100_000, 4096)]
    [InlineData(10_000, 256)]
    public void Long_ascii_text_is_cut_within_the_limit_with_a_note_of_what_was_left_out(int length, int limit)
    {
        var text = string.Concat(Enumerable.Range(0, length).Select(i => (char)('a' + i % 26)));
        var limited = TerminalText.Limit(text, limit);
        Assert.True(Encoding.UTF8.GetByteCount(limited) <= limit, $"{Encoding.UTF8.GetByteCount(limited)} bytes");
        var noteAt = limited.LastIndexOf("\n[... ", StringComparison.Ordinal);
        Assert.True(noteAt > 0);
        var kept = limited[..noteAt];
        Assert.StartsWith(kept, text);
        Assert.Equal($"\n[... {length - kept.Length} more bytes]", limited[noteAt..]);
        // Most of the budget holds text: the note takes a few dozen bytes.
        Assert.True(kept.Length > limit - 40);
    }

    [Theory]
    [InlineData("é")]                // 2 bytes
    [InlineData("日")]               // 3 bytes
    [InlineData("\U0001F600")]       // 4 bytes, a surrogate pair
    [InlineData("aé日\U0001F600")]   // mixed, so the cut falls at every offset somewhere
    public void Multibyte_text_is_never_cut_inside_a_character(string unit)
    {
        var text = string.Concat(Enumerable.Repeat(unit, 3000));
        var total = Encoding.UTF8.GetByteCount(text);
        for (var limit = 256; limit < 300; limit++)
        {
            var limited = TerminalText.Limit(text, limit);
            var bytes = Encoding.UTF8.GetBytes(limited);
            Assert.True(bytes.Length <= limit);
            // Strict decoding: a cut character or surrogate would throw.
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            Assert.Equal(limited, strict.GetString(bytes));
            Assert.DoesNotContain('\uFFFD', limited);
            var noteAt = limited.LastIndexOf("\n[... ", StringComparison.Ordinal);
            var kept = limited[..noteAt];
            Assert.StartsWith(kept, text);
            Assert.EndsWith($"[... {total - Encoding.UTF8.GetByteCount(kept)} more bytes]", limited);
        }
    }

    private static MimeMessage Parse(string raw) => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw.ReplaceLineEndings("\r\n"))));

    [Fact]
    public void The_text_plain_alternative_is_preferred_to_html()
    {
        var message = Parse("""
            From: alice@example.test
            Subject: lunch?
            MIME-Version: 1.0
            Content-Type: multipart/alternative; boundary="b"

            --b
            Content-Type: text/html; charset=utf-8

            <p>HTML version</p>
            --b
            Content-Type: text/plain; charset=utf-8

            Plain version
            --b--
            """);
        var terminal = TerminalText.FromMimeMessage(Alice, message, 4096);
        Assert.Equal("Plain version", terminal.Text);
        Assert.Equal("lunch?", terminal.Subject);
        Assert.Same(Alice, terminal.From);
    }

    [Fact]
    public void Html_only_is_stripped_crudely_and_what_it_decodes_to_is_sanitised_too()
    {
        var message = Parse("""
            From: alice@example.test
            Subject: html
            MIME-Version: 1.0
            Content-Type: text/html; charset=utf-8

            <html><head><title>T</title><style>p { color: red }</style></head>
            <body><script>alert(1)</script><!-- hidden -->
            <p>First &amp; <b>bold</b>
            paragraph</p>line<br>break &lt;tag&gt; &#27;[2Jcleared &#x202E;rtl
            </body></html>
            """);
        var terminal = TerminalText.FromMimeMessage(Alice, message, 4096);
        Assert.Equal("First & bold paragraph\nline\nbreak <tag> cleared rtl", terminal.Text);
    }

    [Fact]
    public void A_message_without_a_text_part_says_so()
    {
        var message = Parse("""
            From: alice@example.test
            MIME-Version: 1.0
            Content-Type: image/png
            Content-Transfer-Encoding: base64

            iVBORw0KGgo=
            """);
        var terminal = TerminalText.FromMimeMessage(Alice, message, 4096);
        Assert.Equal(TerminalText.NoTextPart, terminal.Text);
        Assert.Null(terminal.Subject);
    }

    [Fact]
    public void Subject_is_one_sanitised_line_of_bounded_length()
    {
        var message = Parse($"""
            From: alice@example.test
            Subject: =?utf-8?q?a=1B[2Jb=0D=0Ac=E2=80=AEd?=

            hi
            """);
        // MimeKit may drop the encoded CRLF or keep it (then it is a space): either way one line, no escape.
        Assert.Matches("^ab ?cd$", TerminalText.FromMimeMessage(Alice, message, 4096).Subject);

        var longSubject = Parse($"Subject: {new string('s', 500)}\n\nhi\n");
        var subject = TerminalText.FromMimeMessage(Alice, longSubject, 4096).Subject!;
        Assert.Equal(TerminalText.MaxSubjectChars + 3, subject.Length);
        Assert.EndsWith("...", subject);
    }

    [Fact]
    public void Body_escapes_in_any_transfer_encoding_are_stripped_and_the_size_is_limited()
    {
        var body = "\u001b]0;pwned\u0007Hello\r\n\u001b[31mworld\u001b[0m\r\n" + new string('x', 10_000);
        var message = Parse($"""
            From: alice@example.test
            Subject: t
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: base64

            {Convert.ToBase64String(Encoding.UTF8.GetBytes(body), Base64FormattingOptions.InsertLineBreaks)}
            """);
        var terminal = TerminalText.FromMimeMessage(Alice, message, 1024);
        Assert.StartsWith("Hello\nworld\nxxx", terminal.Text);
        Assert.True(Encoding.UTF8.GetByteCount(terminal.Text) <= 1024);
        Assert.Matches(@"\n\[\.\.\. \d+ more bytes\]$", terminal.Text);
        Assert.DoesNotContain('\u001b', terminal.Text);
    }

    [Fact]
    public void Latin1_c1_bytes_are_stripped()
    {
        // In ISO-8859-1, octet 0x9B is U+009B: the 8-bit CSI, which a UTF-8 terminal honours when re-encoded.
        var raw = Encoding.ASCII.GetBytes("From: a@example.test\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nx").Concat(new byte[] { 0x9B, (byte)'2', (byte)'J', (byte)'y', 0xE9, (byte)'\r', (byte)'\n' }).ToArray();
        var message = MimeMessage.Load(new MemoryStream(raw));
        Assert.Equal("xyé", TerminalText.FromMimeMessage(Alice, message, 4096).Text);
    }

    [Fact]
    public async Task FromMessageAsync_reads_the_stored_message()
    {
        var content = new InMemoryMessageContent("From: a@example.test\r\nSubject: s\r\n\r\nbody line\r\n\r\n\r\n");
        var terminal = await TerminalText.FromMessageAsync(Alice, content, 4096, TestContext.Current.CancellationToken);
        Assert.Equal(new TerminalMessage(Alice, "s", "body line"), terminal);
    }

    [Fact]
    public void An_empty_body_is_no_text_part_rather_than_nothing()
    {
        var message = Parse("From: a@example.test\nSubject: empty\n\n\u001b[2J\n");
        Assert.Equal(TerminalText.NoTextPart, TerminalText.FromMimeMessage(Alice, message, 4096).Text);
    }
}
