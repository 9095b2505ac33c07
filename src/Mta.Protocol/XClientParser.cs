// Parses XCLIENT arguments (Postfix XCLIENT_README): name=xtext pairs, each value checked for its attribute's syntax.
namespace Mta.Protocol;

/// <summary>
/// <c>XCLIENT 1*( SP attribute-name "=" attribute-value )</c>. Names are case-insensitive; values are xtext
/// (RFC 3461); <c>[UNAVAILABLE]</c> and <c>[TEMPUNAVAIL]</c> mean the fact is unknown. Every error is
/// <c>501 5.5.4</c> with Postfix's wording, so a client written for Postfix reads the same replies.
/// </summary>
internal static class XClientParser
{
    /// <summary>The attribute names Mta takes, in the order the EHLO keyword lists them.</summary>
    internal static readonly string[] Names = ["ADDR", "NAME", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT", "REVERSE_NAME"];

    public static CommandParseResult Parse(ReadOnlySpan<char> args)
    {
        if (args.IsEmpty) return Syntax();
        var attributes = new List<XClientAttribute>(4);
        foreach (var range in args.SplitAny(' ', '\t'))
        {
            var token = args[range];
            if (token.IsEmpty) continue;
            var eq = token.IndexOf('=');
            if (eq <= 0) return Syntax();
            var name = token[..eq].ToString().ToUpperInvariant();
            if (Array.IndexOf(Names, name) < 0) return Bad($"Bad XCLIENT attribute name: {Printable(token[..eq])}");
            var raw = token[(eq + 1)..];
            string? value;
            if (raw.Equals("[UNAVAILABLE]", StringComparison.OrdinalIgnoreCase) || raw.Equals("[TEMPUNAVAIL]", StringComparison.OrdinalIgnoreCase))
                value = null;
            else if (raw.IsEmpty || !Xtext.TryDecode(raw, out value))
                return Bad($"Bad XCLIENT {name} syntax: value is not xtext");
            else if (!IsValid(name, ref value))
                return Bad($"Bad XCLIENT {name} syntax: {Printable(value)}");
            attributes.Add(new XClientAttribute(name, value));
        }
        return attributes.Count == 0 ? Syntax() : CommandParseResult.Success(new XClientCommand(attributes));
    }

    private static bool IsValid(string name, ref string value)
    {
        switch (name)
        {
            case "ADDR":
            case "DESTADDR":
                return XClientAttribute.TryParseAddress(value, out _);
            case "PORT":
            case "DESTPORT":
                return value.Length is > 0 and <= 5 && value.All(char.IsAsciiDigit) && int.Parse(value, System.Globalization.CultureInfo.InvariantCulture) <= 65535;
            case "PROTO":
                value = value.ToUpperInvariant();
                return value is "SMTP" or "ESMTP";
            case "NAME":
            case "REVERSE_NAME":
            case "HELO":
                return SmtpCommandParser.IsValidHeloName(value);
            default: // LOGIN: any user name, but on one printable line.
                return value.Length <= SmtpLimits.MaxLocalPart * 4 && value.All(c => c >= ' ' && c != '\x7f');
        }
    }

    // Echoed text is client input: printable ASCII only, and short.
    private static string Printable(ReadOnlySpan<char> s)
    {
        var text = s.Length > 64 ? s[..64] : s;
        return string.Create(text.Length, text.ToString(), static (span, t) =>
        {
            for (var i = 0; i < t.Length; i++) span[i] = t[i] is >= ' ' and < '\x7f' ? t[i] : '?';
        });
    }

    private static CommandParseResult Syntax() => Bad("Syntax: XCLIENT attribute=value...");

    private static CommandParseResult Bad(string text) =>
        CommandParseResult.Failure(new SmtpReply(501, EnhancedStatusCode.InvalidCommandArguments, text));
}
