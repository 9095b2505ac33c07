// Markup built from interpolated strings in which every hole is HTML-encoded unless it is markup already: the console
// shows mail headers and addresses, which are hostile input, so escaping is the default and cannot be forgotten.
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;

namespace Mta.Web.Console;

/// <summary>A fragment of HTML that is safe to write as it is: literal template text, or text encoded on the way in.</summary>
internal readonly struct Html
{
    private readonly string? _value;

    private Html(string value) => _value = value;

    public static Html Empty => default;

    /// <summary>Builds markup: the literal parts are kept, every value is encoded (an <see cref="Html"/> value is not).</summary>
    public static Html Of(HtmlBuilder builder) => new(builder.ToStringAndClear());

    /// <summary>Text shown as text, encoded.</summary>
    public static Html Text(string? text) => new(HtmlEncoder.Default.Encode(text ?? ""));

    /// <summary>Markup from trusted constant text (the console's own templates), taken as it is.</summary>
    public static Html Raw(string markup) => new(markup);

    /// <summary>The fragments one after another.</summary>
    public static Html Join(IEnumerable<Html> parts)
    {
        var text = new StringBuilder();
        foreach (var part in parts) text.Append(part._value);
        return new(text.ToString());
    }

    /// <summary>A query string of encoded names and values, for a link.</summary>
    public static string Query(params (string Name, string? Value)[] parts)
    {
        var present = parts.Where(p => !string.IsNullOrEmpty(p.Value)).ToArray();
        return present.Length == 0 ? "" : "?" + string.Join("&", present.Select(p => p.Name + "=" + Uri.EscapeDataString(p.Value!)));
    }

    public override string ToString() => _value ?? "";
}

/// <summary>The interpolated string handler behind <see cref="Html.Of"/>.</summary>
[InterpolatedStringHandler]
internal ref struct HtmlBuilder
{
    private StringBuilder _text;

    public HtmlBuilder(int literalLength, int formattedCount) => _text = new StringBuilder(literalLength + formattedCount * 16);

    public readonly void AppendLiteral(string value) => _text.Append(value);

    public readonly void AppendFormatted(Html value) => _text.Append(value.ToString());

    public readonly void AppendFormatted(IEnumerable<Html> values)
    {
        foreach (var value in values) _text.Append(value.ToString());
    }

    public readonly void AppendFormatted(string? value) => _text.Append(HtmlEncoder.Default.Encode(value ?? ""));

    public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public readonly void AppendFormatted<T>(T value, string? format)
    {
        var text = value switch
        {
            null => "",
            IFormattable formattable => formattable.ToString(format, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
        _text.Append(HtmlEncoder.Default.Encode(text ?? ""));
    }

    public string ToStringAndClear()
    {
        var text = _text.ToString();
        _text = null!;
        return text;
    }
}
