// A parsed RFC 7208 section 7 macro-string: literal text and %{...} macros, checked for syntax, expanded elsewhere.
using System.Text;

namespace Mta.Engine.Authentication.Spf;

/// <summary>Where a macro-string appears, which decides the macro letters it may use (RFC 7208 7.1).</summary>
public enum SpfMacroUse
{
    /// <summary>A domain-spec of a mechanism or of <c>redirect=</c>/<c>exp=</c>: <c>c</c>, <c>r</c> and <c>t</c> are not allowed.</summary>
    DomainSpec,
    /// <summary>The value of an unknown modifier: any macro letter (it is never expanded).</summary>
    Modifier,
    /// <summary>The TXT record an <c>exp=</c> points to (explain-string): every letter, and spaces.</summary>
    Explanation,
}

/// <summary>One <c>%{...}</c> macro: the letter, how many right-hand parts to keep, reversal, delimiters, and whether
/// the letter was upper case (the value is then URL-escaped, RFC 7208 7.3).</summary>
/// <param name="Letter">The macro letter, lower case.</param>
/// <param name="Keep">How many right-hand parts to keep; 0 keeps all.</param>
/// <param name="Reverse">True for the <c>r</c> transformer.</param>
/// <param name="Delimiters">The characters the value is split on; <c>"."</c> when none were given.</param>
/// <param name="UrlEscape">True when the letter was upper case.</param>
public sealed record SpfMacro(char Letter, int Keep, bool Reverse, string Delimiters, bool UrlEscape);

/// <summary>
/// A macro-string of RFC 7208 section 7.1, parsed into literal text and macros. Literal parts already have
/// <c>%%</c>, <c>%_</c> and <c>%-</c> replaced by what they stand for. Parsing is pure and never throws.
/// </summary>
public sealed class SpfMacroString
{
    /// <summary>A count transformer above this keeps every part anyway: no value has more parts than a name has characters.</summary>
    private const int MaxKeep = 1000;

    private SpfMacroString(string text, IReadOnlyList<object> parts)
    {
        Text = text;
        Parts = parts;
    }

    /// <summary>The string as written in the record.</summary>
    public string Text { get; }

    /// <summary>The parts in order: <see cref="string"/> for literal text, <see cref="SpfMacro"/> for a macro.</summary>
    public IReadOnlyList<object> Parts { get; }

    /// <summary>True when the string uses <c>%{p}</c>, so the evaluator must find the validated name first.</summary>
    public bool UsesValidatedName => Parts.Any(p => p is SpfMacro { Letter: 'p' });

    /// <summary>True when the string has no macro at all.</summary>
    public bool IsLiteral => Parts.All(p => p is string);

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>Parses a macro-string. On failure <paramref name="error"/> says what is wrong.</summary>
    public static bool TryParse(string text, SpfMacroUse use, out SpfMacroString? result, out string? error)
    {
        result = null;
        if (text is null)
        {
            error = "no macro-string";
            return false;
        }
        var parts = new List<object>();
        var literal = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c != '%')
            {
                // macro-literal is VCHAR but '%' (RFC 7208 7.1); an explain-string may also hold spaces.
                if (c is < '!' or > '~' && !(c == ' ' && use == SpfMacroUse.Explanation))
                {
                    error = $"character 0x{(int)c:X2} not allowed in '{text}'";
                    return false;
                }
                literal.Append(c);
                i++;
                continue;
            }
            if (i + 1 >= text.Length)
            {
                error = $"'%' at the end of '{text}'";
                return false;
            }
            var next = text[i + 1];
            switch (next)
            {
                case '%': literal.Append('%'); i += 2; continue;
                case '_': literal.Append(' '); i += 2; continue;
                case '-': literal.Append("%20"); i += 2; continue;
                case '{': break;
                default:
                    error = $"'%{next}' is not a macro in '{text}'";
                    return false;
            }
            var close = text.IndexOf('}', i + 2);
            if (close < 0)
            {
                error = $"unterminated macro in '{text}'";
                return false;
            }
            if (!TryParseMacro(text.AsSpan(i + 2, close - i - 2), use, out var macro, out error))
            {
                error = $"{error} in '{text}'";
                return false;
            }
            if (literal.Length > 0)
            {
                parts.Add(literal.ToString());
                literal.Clear();
            }
            parts.Add(macro!);
            i = close + 1;
        }
        if (literal.Length > 0) parts.Add(literal.ToString());
        result = new SpfMacroString(text, parts);
        error = null;
        return true;
    }

    /// <summary>Parses the inside of <c>%{...}</c>: macro-letter transformers *delimiter.</summary>
    private static bool TryParseMacro(ReadOnlySpan<char> body, SpfMacroUse use, out SpfMacro? macro, out string? error)
    {
        macro = null;
        if (body.Length == 0)
        {
            error = "empty macro";
            return false;
        }
        var letter = char.ToLowerInvariant(body[0]);
        if (!char.IsAsciiLetter(body[0]) || "slodiphcrtv".IndexOf(letter) < 0)
        {
            error = $"unknown macro letter '{body[0]}'";
            return false;
        }
        if (use == SpfMacroUse.DomainSpec && letter is 'c' or 'r' or 't')
        {
            error = $"macro letter '{body[0]}' is allowed only in an explanation";
            return false;
        }
        var i = 1;
        var keep = 0;
        var digits = 0;
        while (i < body.Length && char.IsAsciiDigit(body[i]))
        {
            keep = Math.Min(MaxKeep, keep * 10 + (body[i] - '0'));
            digits++;
            i++;
        }
        if (digits > 0 && keep == 0)
        {
            error = "a macro's part count must not be zero";
            return false;
        }
        var reverse = false;
        if (i < body.Length && body[i] is 'r' or 'R')
        {
            reverse = true;
            i++;
        }
        var delimiters = new StringBuilder();
        for (; i < body.Length; i++)
        {
            if (".-+,/_=".IndexOf(body[i]) < 0)
            {
                error = $"'{body[i]}' is not a macro delimiter";
                return false;
            }
            if (delimiters.ToString().IndexOf(body[i]) < 0) delimiters.Append(body[i]);
        }
        macro = new SpfMacro(letter, keep, reverse, delimiters.Length == 0 ? "." : delimiters.ToString(), char.IsAsciiLetterUpper(body[0]));
        error = null;
        return true;
    }
}
