// RFC 3461 section 4 xtext: the encoding of ENVID, ORCPT and AUTH= parameter values.
using System.Text;

namespace Mta.Protocol;

/// <summary>Encodes and decodes RFC 3461 xtext (<c>+XX</c> escapes for '+', '=', controls, space and non-ASCII).</summary>
public static class Xtext
{
    /// <summary>Decodes xtext; throws <see cref="FormatException"/> when it is not valid xtext.</summary>
    public static string Decode(ReadOnlySpan<char> text) =>
        TryDecode(text, out var value) ? value : throw new FormatException("Invalid xtext.");

    /// <summary>Decodes xtext. Hex digits are accepted in either case; the decoded octets must be valid UTF-8.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out string value)
    {
        value = string.Empty;
        if (text.IndexOf('+') < 0)
        {
            foreach (var c in text)
                if (!IsXchar(c)) return false;
            value = text.ToString();
            return true;
        }

        var bytes = text.Length <= 256 ? stackalloc byte[text.Length] : new byte[text.Length];
        var n = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !char.IsAsciiHexDigit(text[i + 1]) || !char.IsAsciiHexDigit(text[i + 2])) return false;
                bytes[n++] = (byte)(HexValue(text[i + 1]) << 4 | HexValue(text[i + 2]));
                i += 2;
            }
            else if (IsXchar(c))
            {
                bytes[n++] = (byte)c;
            }
            else
            {
                return false;
            }
        }
        if (!System.Text.Unicode.Utf8.IsValid(bytes[..n])) return false;
        value = Encoding.UTF8.GetString(bytes[..n]);
        return true;
    }

    /// <summary>Encodes a string (as UTF-8 octets) into xtext with upper-case hex escapes.</summary>
    public static string Encode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            if (b is >= 33 and <= 126 && b != '+' && b != '=') sb.Append((char)b);
            else sb.Append('+').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    private static bool IsXchar(char c) => c is >= '!' and <= '~' && c != '+' && c != '=';

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
