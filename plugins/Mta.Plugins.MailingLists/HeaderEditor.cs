// Reads and rewrites the header of a raw RFC 5322 message without parsing (or re-encoding) its body.
using System.Text;

namespace Mta.Plugins.MailingLists;

/// <summary>
/// A list expansion only needs to look at a few fields and add two. Working on the raw bytes keeps the body
/// byte-for-byte as received (signatures stay valid) and avoids a MimeKit parse and re-serialisation per list.
/// </summary>
public sealed class HeaderEditor
{
    private readonly byte[] _message;
    private readonly List<Field> _fields = [];
    private readonly int _headerEnd;

    private HeaderEditor(byte[] message)
    {
        _message = message;
        var pos = 0;
        Field? current = null;
        while (pos < message.Length)
        {
            var nl = Array.IndexOf(message, (byte)'\n', pos);
            var next = nl < 0 ? message.Length : nl + 1;
            var line = new ReadOnlySpan<byte>(message, pos, next - pos);
            if (line is [(byte)'\r', (byte)'\n'] or [(byte)'\n']) break; // the blank line that ends the header
            if (line[0] is (byte)' ' or (byte)'\t' && current is not null)
            {
                current.End = next;
            }
            else
            {
                var colon = line.IndexOf((byte)':');
                if (colon <= 0) break; // not a field: treat the rest as body rather than guess
                current = new Field(Encoding.ASCII.GetString(line[..colon]).Trim(), pos, next);
                _fields.Add(current);
            }
            pos = next;
        }
        _headerEnd = pos;
    }

    /// <summary>Splits <paramref name="message"/> into header fields and body.</summary>
    public static HeaderEditor Parse(byte[] message) => new(message);

    /// <summary>The unfolded, trimmed values of every field named <paramref name="name"/>, in order.</summary>
    public IReadOnlyList<string> Values(string name)
    {
        var values = new List<string>();
        foreach (var f in _fields)
        {
            if (!f.Name.Equals(name, StringComparison.OrdinalIgnoreCase)) continue;
            var raw = Encoding.UTF8.GetString(_message, f.Start, f.End - f.Start);
            var value = raw[(raw.IndexOf(':') + 1)..].Replace("\r\n", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
            values.Add(value.Trim());
        }
        return values;
    }

    /// <summary>
    /// The message without the fields named in <paramref name="remove"/> and with <paramref name="append"/> added
    /// at the end of the header (after any trace fields, where list software such as Mailman puts them).
    /// </summary>
    public byte[] Rewrite(IReadOnlyCollection<string> remove, IReadOnlyList<KeyValuePair<string, string>> append)
    {
        using var output = new MemoryStream(_message.Length + 256);
        var pos = 0;
        foreach (var f in _fields)
        {
            if (!remove.Contains(f.Name, StringComparer.OrdinalIgnoreCase)) continue;
            output.Write(_message, pos, f.Start - pos);
            pos = f.End;
        }
        output.Write(_message, pos, _headerEnd - pos);
        // A last field without a line ending (a header-only message) must be ended before another is added.
        if (_headerEnd > 0 && _message[_headerEnd - 1] != (byte)'\n') output.Write("\r\n"u8);
        foreach (var (name, value) in append)
            output.Write(Encoding.UTF8.GetBytes($"{name}: {value}\r\n"));
        if (_headerEnd == _message.Length) output.Write("\r\n"u8); // header-only input: add the separating blank line
        output.Write(_message, _headerEnd, _message.Length - _headerEnd);
        return output.ToArray();
    }

    private sealed class Field(string name, int start, int end)
    {
        public string Name { get; } = name;
        public int Start { get; } = start;
        public int End { get; set; } = end;
    }
}
