// The header field that marks a message quarantined by DMARC, and the check local delivery makes for it.
using System.Text;
using Mta.Abstractions;

namespace Mta.Engine.Authentication;

/// <summary>
/// A quarantined message carries <c>X-Mta-Quarantine: dmarc</c> at the top of its header, written by the receiver
/// (incoming copies of the field are removed there, so only the server can set it). Maildir filters can act on the
/// field; with <c>Authentication:Dmarc:Quarantine</c> <c>Junk</c>, local delivery puts the copy in <c>.Junk</c> itself.
/// </summary>
public static class QuarantineMark
{
    /// <summary>The field name.</summary>
    public const string FieldName = "X-Mta-Quarantine";

    /// <summary>The Maildir++ folder quarantined mail is delivered into.</summary>
    public const string JunkFolder = ".Junk";

    /// <summary>The whole field, with its CRLF, for a reason such as <c>dmarc</c>.</summary>
    public static string Field(string reason) => $"{FieldName}: {reason}\r\n";

    /// <summary>True when the message's header has the mark. Reads the header section only, at most 64 KiB of it.</summary>
    public static bool IsMarked(IMessageContent message)
    {
        using var stream = message.OpenRead();
        using var reader = new StreamReader(stream, Encoding.Latin1, detectEncodingFromByteOrderMarks: false, bufferSize: 4096);
        var read = 0;
        while (reader.ReadLine() is { } line && line.Length > 0 && read < 64 * 1024)
        {
            read += line.Length + 2;
            if (line.Length > FieldName.Length && line[FieldName.Length] == ':' && line.StartsWith(FieldName, StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }
}
