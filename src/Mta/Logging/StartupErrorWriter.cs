// `mta run` failing to start: the error's text on standard error in a form the log format keeps whole.
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Mta.Engine.Configuration;

namespace Mta.Logging;

/// <summary>
/// A configuration or start-up error spans several lines (one per bad key, a script's compile errors). Written as it
/// is, journald would store each line as an entry of its own without priority (so <c>journalctl -p err</c> misses
/// them), and a json log would get lines that are not JSON. In the systemd format every line carries the error
/// priority <c>&lt;3&gt;</c>; in json the text is one object, as a log line, with the line breaks inside its message.
/// </summary>
internal static class StartupErrorWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    public static void Write(TextWriter writer, LogFormat format, string message)
    {
        switch (format)
        {
            case LogFormat.Systemd:
                foreach (var line in message.TrimEnd('\r', '\n').Split('\n'))
                    writer.WriteLine("<3>" + line.TrimEnd('\r'));
                break;
            case LogFormat.Json:
                using (var stream = new MemoryStream())
                {
                    using (var json = new Utf8JsonWriter(stream, WriterOptions))
                    {
                        json.WriteStartObject();
                        json.WriteString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
                        json.WriteString("level", "Critical");
                        json.WriteString("category", "Mta");
                        json.WriteNumber("eventId", 0);
                        json.WriteString("message", message.TrimEnd('\r', '\n'));
                        json.WriteEndObject();
                    }
                    writer.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
                }
                break;
            default:
                writer.WriteLine(message);
                break;
        }
    }
}
