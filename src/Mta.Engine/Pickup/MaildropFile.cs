// The maildrop file: a small text envelope, then the message, written by sendmail and read by the server's pickup.
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Mta.Engine.Spool;

namespace Mta.Engine.Pickup;

/// <summary>What a local submitter asked for. The submitting user is not in it: the server takes it from the file's
/// owner, never from the file's text.</summary>
/// <param name="Sender">The envelope sender as given with <c>-f</c> (<c>""</c> for the null sender); null when none was
/// given. Believed only for trusted users.</param>
/// <param name="Recipients">The envelope recipients, at least one.</param>
/// <param name="Ret">DSN RET (<c>FULL</c> or <c>HDRS</c>), from <c>-R</c>; null when not given.</param>
/// <param name="EnvelopeId">DSN ENVID, from <c>-V</c>; null when not given.</param>
/// <param name="Notify">DSN NOTIFY for every recipient (<c>NEVER</c> or a list of SUCCESS, FAILURE, DELAY), from
/// <c>-N</c>; null when not given.</param>
public sealed record MaildropEnvelope(string? Sender, IReadOnlyList<string> Recipients, string? Ret = null, string? EnvelopeId = null,
    string? Notify = null);

/// <summary>
/// The file format, one text line per field and then the message:
/// <code>
/// MTA-MAILDROP 1
/// sender: alice@example.org        (absent without -f; "sender:" with nothing for the null sender)
/// ret: FULL | envid: ... | notify: ... (each optional)
/// recipient: bob@example.org       (one line per recipient, at least one)
/// size: 1234                       (the message's length in bytes)
///                                  (an empty line)
/// the message, CRLF line ends, exactly size bytes, nothing after it
/// </code>
/// A file that does not follow it exactly is corrupt: a field value may hold no control character, and the size must
/// match, so a cut or padded file is never taken for a message.
/// </summary>
public static class MaildropFile
{
    /// <summary>The first line of every file, naming the format's version.</summary>
    public const string Magic = "MTA-MAILDROP 1";

    /// <summary>The suffix of a file still being written; the pickup never reads one.</summary>
    public const string TemporarySuffix = ".tmp";

    /// <summary>A file name no other user can guess (the folder cannot be listed, so nobody else finds the file).</summary>
    public static string NewName() =>
        DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>The file's bytes for an envelope and a message.</summary>
    /// <exception cref="ArgumentException">A field holds a control character, or there is no recipient.</exception>
    public static byte[] Format(MaildropEnvelope envelope, ReadOnlySpan<byte> message)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Recipients.Count == 0) throw new ArgumentException("at least one recipient is required", nameof(envelope));
        var head = new StringBuilder(Magic).Append('\n');
        void Field(string name, string? value)
        {
            if (value is null) return;
            if (value.Any(char.IsControl)) throw new ArgumentException($"{name} '{value}' holds a control character", nameof(envelope));
            head.Append(name).Append(": ").Append(value).Append('\n');
        }
        Field("sender", envelope.Sender);
        Field("ret", envelope.Ret);
        Field("envid", envelope.EnvelopeId);
        Field("notify", envelope.Notify);
        foreach (var recipient in envelope.Recipients) Field("recipient", recipient);
        Field("size", message.Length.ToString(CultureInfo.InvariantCulture));
        head.Append('\n');
        var headBytes = Encoding.UTF8.GetBytes(head.ToString());
        var bytes = new byte[headBytes.Length + message.Length];
        headBytes.CopyTo(bytes, 0);
        message.CopyTo(bytes.AsSpan(headBytes.Length));
        return bytes;
    }

    /// <summary>Reads a file's bytes back; false with a reason when the file is not in the format.</summary>
    public static bool TryParse(ReadOnlyMemory<byte> file, out MaildropEnvelope? envelope, out ReadOnlyMemory<byte> message, out string? error)
    {
        envelope = null;
        message = default;
        var span = file.Span;
        string? sender = null, ret = null, envid = null, notify = null;
        long? size = null;
        var recipients = new List<string>();
        var position = 0;
        var first = true;
        while (true)
        {
            var lf = span[position..].IndexOf((byte)'\n');
            if (lf < 0) return Fail("the envelope does not end (no empty line before the message)", out error);
            string line;
            try
            {
                line = new UTF8Encoding(false, true).GetString(span.Slice(position, lf));
            }
            catch (DecoderFallbackException)
            {
                return Fail("an envelope line is not UTF-8", out error);
            }
            position += lf + 1;
            if (first)
            {
                if (line != Magic) return Fail($"not a maildrop file (first line is not '{Magic}')", out error);
                first = false;
                continue;
            }
            if (line.Length == 0) break;
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            var name = colon < 0 ? line.TrimEnd(':') : line[..colon];
            var value = colon < 0 ? (line.EndsWith(':') ? "" : null) : line[(colon + 2)..];
            if (value is null) return Fail($"envelope line '{line}' is not 'name: value'", out error);
            if (value.Any(char.IsControl)) return Fail($"envelope field {name} holds a control character", out error);
            switch (name)
            {
                case "sender" when sender is null: sender = value; break;
                case "ret" when ret is null: ret = value; break;
                case "envid" when envid is null: envid = value; break;
                case "notify" when notify is null: notify = value; break;
                case "recipient" when value.Length > 0: recipients.Add(value); break;
                case "size" when size is null && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n): size = n; break;
                default: return Fail($"envelope line '{line}' is unknown, repeated or empty", out error);
            }
        }
        if (recipients.Count == 0) return Fail("no recipient", out error);
        if (size is null) return Fail("no size", out error);
        if (file.Length - position != size) return Fail($"the message is {file.Length - position} bytes, the envelope says {size}", out error);
        envelope = new MaildropEnvelope(sender, recipients, ret, envid, notify);
        message = file[position..];
        error = null;
        return true;
    }

    /// <summary>Writes a file into <paramref name="directory"/> as a submitter does: under a temporary name, fsync'd, then
    /// renamed to its final name, mode 0644 (the server may run as another user). Returns the final path.</summary>
    public static string Write(string directory, MaildropEnvelope envelope, ReadOnlySpan<byte> message)
    {
        var bytes = Format(envelope, message);
        var name = NewName();
        var temporary = Path.Combine(directory, name + TemporarySuffix);
        var final = Path.Combine(directory, name);
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        try
        {
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows()) create.UnixCreateMode = mode;
            using (var stream = new FileStream(temporary, create))
            {
                stream.Write(bytes);
                stream.Flush();
                DurableIo.FlushData(stream.SafeFileHandle);
            }
            // The umask may have taken bits the server needs (a umask of 077 would leave the file unreadable to it).
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, mode);
            DurableIo.RenameNoReplace(temporary, final);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        try
        {
            DurableIo.FlushDirectory(directory);
        }
        catch (IOException)
        {
            // A directory we may write but not read (mode 1733) cannot be opened for fsync by others; the file itself
            // is on disk, and the rename reaches the disk with the next journal commit.
        }
        return final;
    }

    private static bool Fail(string why, out string? error)
    {
        error = why;
        return false;
    }
}
