// The header section as milters see it (name, value) and the header changes they ask for, applied to the octets spooled.
using System.Buffers;
using System.Text;

namespace Mta.Engine.Milter;

/// <summary>
/// Splits a message's header section into fields, gives them to milters as Postfix does (the value after the colon,
/// folded lines joined by a bare LF), and rebuilds the section after add, insert, change and delete. Fields nobody
/// changed keep their exact octets.
/// </summary>
internal sealed class MilterMessageEditor
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);
    private readonly List<(string Name, byte[] Raw)> _fields;

    private MilterMessageEditor(List<(string Name, byte[] Raw)> fields, int headerLength, bool hasBody)
    {
        _fields = fields;
        HeaderLength = headerLength;
        HasSeparator = hasBody;
    }

    /// <summary>Octets of the header fields, up to (not including) the empty line.</summary>
    public int HeaderLength { get; }

    /// <summary>The empty line that ends the header section is there (else the message is all header).</summary>
    public bool HasSeparator { get; }

    /// <summary>Where the body starts.</summary>
    public long BodyStart => HeaderLength + (HasSeparator ? 2 : 0);

    /// <summary>True once a field was added, changed or removed.</summary>
    public bool Changed { get; private set; }

    /// <summary>Reads the header section from the first octets of a message (CRLF line ends, as received).</summary>
    public static MilterMessageEditor Parse(ReadOnlySequence<byte> head)
    {
        var bytes = head.IsSingleSegment ? head.FirstSpan : head.ToArray();
        var fields = new List<(string, byte[])>();
        var at = 0;
        while (at < bytes.Length)
        {
            var rest = bytes[at..];
            if (rest.StartsWith("\r\n"u8)) return new MilterMessageEditor(fields, at, hasBody: true);
            var colon = rest.IndexOf((byte)':');
            var lineEnd = rest.IndexOf("\r\n"u8);
            // A line that is no field ends the header section there (the rest is body, as a MIME parser reads it).
            if (colon <= 0 || (lineEnd >= 0 && colon > lineEnd)) break;
            var end = 0;
            while (true)
            {
                var next = rest[end..].IndexOf("\r\n"u8);
                if (next < 0)
                {
                    end = rest.Length;
                    break;
                }
                end += next + 2;
                if (end >= rest.Length || rest[end] is not ((byte)' ' or (byte)'\t')) break;
            }
            fields.Add((Encoding.ASCII.GetString(rest[..colon]).TrimEnd(' ', '\t'), rest[..end].ToArray()));
            at += end;
        }
        return new MilterMessageEditor(fields, at, hasBody: false);
    }

    /// <summary>The fields as a milter gets them: name, and the value after the colon with folds as bare LF.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers()
    {
        var headers = new KeyValuePair<string, string>[_fields.Count];
        for (var i = 0; i < _fields.Count; i++)
        {
            var (name, raw) = _fields[i];
            var text = Utf8.GetString(raw);
            var value = text[(text.IndexOf(':') + 1)..];
            if (value.EndsWith("\r\n", StringComparison.Ordinal)) value = value[..^2];
            headers[i] = new(name, value.Replace("\r\n", "\n"));
        }
        return headers;
    }

    /// <summary>A field after the last one (SMFIR_ADDHEADER).</summary>
    public void Add(string name, string value)
    {
        _fields.Add((name, Field(name, value)));
        Changed = true;
    }

    /// <summary>A field at <paramref name="index"/> among all fields, 0 the top (SMFIR_INSHEADER).</summary>
    public void Insert(int index, string name, string value)
    {
        _fields.Insert(Math.Clamp(index, 0, _fields.Count), (name, Field(name, value)));
        Changed = true;
    }

    /// <summary>The <paramref name="index"/>th field named <paramref name="name"/> (1 the first) gets
    /// <paramref name="value"/>, or is removed when it is empty; a field not there is added (SMFIR_CHGHEADER, as
    /// Postfix and Sendmail do).</summary>
    public void Change(int index, string name, string value)
    {
        var seen = 0;
        for (var i = 0; i < _fields.Count; i++)
        {
            if (!string.Equals(_fields[i].Name, name, StringComparison.OrdinalIgnoreCase) || ++seen != index) continue;
            if (value.Length == 0) _fields.RemoveAt(i);
            else _fields[i] = (_fields[i].Name, Field(_fields[i].Name, value));
            Changed = true;
            return;
        }
        if (value.Length > 0) Add(name, value);
    }

    /// <summary>The header section as it now stands, without the empty line.</summary>
    public byte[] Build()
    {
        var length = 0;
        foreach (var (_, raw) in _fields) length += raw.Length;
        var head = new byte[length];
        var at = 0;
        foreach (var (_, raw) in _fields)
        {
            raw.CopyTo(head, at);
            at += raw.Length;
        }
        return head;
    }

    /// <summary>A field's octets: name, colon, the value with folds as CRLF, CRLF. A fold that starts with no white space
    /// gets a tab, so a value can never end the header section or start a field of its own.</summary>
    private static byte[] Field(string name, string value)
    {
        var lines = value.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
        var sb = new StringBuilder(name.Length + value.Length + 8).Append(name).Append(':').Append(lines[0]);
        for (var i = 1; i < lines.Length; i++)
        {
            sb.Append("\r\n");
            if (lines[i].Length == 0 || lines[i][0] is not (' ' or '\t')) sb.Append('\t');
            sb.Append(lines[i]);
        }
        return Utf8.GetBytes(sb.Append("\r\n").ToString());
    }
}
