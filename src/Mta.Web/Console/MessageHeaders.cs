// The header section of a stored message, read without reading its body.
using System.Text;
using MimeKit;

namespace Mta.Web.Console;

/// <summary>
/// Reads a queued message up to the blank line that ends its header section, and at most <see cref="MaxBytes"/> of it,
/// then parses that part with MimeKit. A message of 50 MB costs the console a few kilobytes.
/// </summary>
internal static class MessageHeaders
{
    public const int MaxBytes = 256 * 1024;

    public sealed record Section(IReadOnlyList<(string Name, string Value)> Fields, bool Truncated);

    public static async Task<Section> ReadAsync(Stream message, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxBytes];
        var length = 0;
        var end = -1;
        while (length < buffer.Length)
        {
            var read = await message.ReadAsync(buffer.AsMemory(length, Math.Min(8192, buffer.Length - length)), cancellationToken);
            if (read == 0) break;
            var from = Math.Max(0, length - 3);
            length += read;
            end = EndOfHeaders(buffer.AsSpan(0, length), from);
            if (end >= 0) break;
        }
        var truncated = end < 0 && length == buffer.Length;
        var headers = HeaderList.Load(new MemoryStream(buffer, 0, end >= 0 ? end : length), cancellationToken);
        var fields = headers.Select(h => (h.Field, Unfold(h))).ToArray();
        return new Section(fields, truncated);
    }

    // The offset just past the blank line (CRLF CRLF, or bare LF LF), searching from from; -1 when not there yet.
    private static int EndOfHeaders(ReadOnlySpan<byte> data, int from)
    {
        for (var i = from; i < data.Length - 1; i++)
        {
            if (data[i] != '\n') continue;
            if (data[i + 1] == '\n') return i + 2;
            if (i + 2 < data.Length && data[i + 1] == '\r' && data[i + 2] == '\n') return i + 3;
        }
        return -1;
    }

    // The value as sent (encoded-words decoded), folding undone so that one field is one line.
    private static string Unfold(Header header)
    {
        var value = header.Value ?? Encoding.UTF8.GetString(header.RawValue);
        return value.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();
    }
}
