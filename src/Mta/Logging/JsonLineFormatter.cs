// `Logging:Format: json`: one JSON object per line, each structured field of the event as a property of its own.
using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace Mta.Logging;

/// <summary>
/// Unlike the runtime's "json" formatter, which nests the fields under "State", the fields sit at the top level
/// next to timestamp, level, category, eventId and message, so `jq 'select(.eventId == 207) | .Client'` or a log
/// shipper's field mapping reaches them directly.
/// </summary>
internal sealed class JsonLineFormatter(IOptionsMonitor<JsonLineFormatterOptions> options) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "mta-json";

    // The properties every line has; a structured field of the same name is written with a "field." prefix instead.
    private static readonly HashSet<string> Reserved = new(StringComparer.Ordinal) { "timestamp", "level", "node", "category", "eventId", "message", "exception" };

    // Relaxed: a sender `<a@b.example>` stays as it is written, grep-able, instead of \u003C...\u003E.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception);
        if (message is null && logEntry.Exception is null) return;
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
            json.WriteString("level", logEntry.LogLevel.ToString());
            if (options.CurrentValue.Node is { } node) json.WriteString("node", node);
            json.WriteString("category", logEntry.Category);
            json.WriteNumber("eventId", logEntry.EventId.Id);
            json.WriteString("message", message ?? "");
            if (logEntry.Exception is { } exception) json.WriteString("exception", exception.ToString());
            if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                foreach (var (key, value) in fields)
                {
                    // The template itself is in "message" already, filled in.
                    if (key == "{OriginalFormat}") continue;
                    WriteField(json, Reserved.Contains(key) ? "field." + key : key, value);
                }
            }
            json.WriteEndObject();
        }
        textWriter.Write(Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    private static void WriteField(Utf8JsonWriter json, string key, object? value)
    {
        switch (value)
        {
            case null: json.WriteNull(key); break;
            case string s: json.WriteString(key, s); break;
            case bool b: json.WriteBoolean(key, b); break;
            case int i: json.WriteNumber(key, i); break;
            case long l: json.WriteNumber(key, l); break;
            case uint ui: json.WriteNumber(key, ui); break;
            case ulong ul: json.WriteNumber(key, ul); break;
            case short sh: json.WriteNumber(key, sh); break;
            case ushort us: json.WriteNumber(key, us); break;
            case byte by: json.WriteNumber(key, by); break;
            case double d when double.IsFinite(d): json.WriteNumber(key, d); break;
            case float f when float.IsFinite(f): json.WriteNumber(key, f); break;
            case decimal m: json.WriteNumber(key, m); break;
            case DateTimeOffset dto: json.WriteString(key, dto.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)); break;
            case DateTime dt: json.WriteString(key, dt.ToString("O", CultureInfo.InvariantCulture)); break;
            case TimeSpan ts: json.WriteString(key, ts.ToString("c", CultureInfo.InvariantCulture)); break;
            case IFormattable formattable: json.WriteString(key, formattable.ToString(null, CultureInfo.InvariantCulture)); break;
            // Lists (e.g. recipients) as the text the message shows for them, not as nested JSON: one line, one level.
            case System.Collections.IEnumerable list:
                json.WriteString(key, string.Join(", ", list.Cast<object?>().Select(v => Convert.ToString(v, CultureInfo.InvariantCulture))));
                break;
            default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }
}

/// <summary>The JSON formatter's options: the node every line names (<c>Node:Name</c>, docs/scale-out.md).</summary>
internal sealed class JsonLineFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>Written as <c>"node"</c> on every line; null leaves it out.</summary>
    public string? Node { get; set; }
}
