// Reads utmp (who is logged in on which tty) in glibc's record layout, tolerating torn and garbage records.
using System.Runtime.InteropServices;
using System.Text;

namespace Mta.Engine.Terminal;

/// <summary>One utmp record's fields that matter here.</summary>
/// <param name="Type"><c>ut_type</c>; 7 (<see cref="Utmp.UserProcess"/>) for a login session.</param>
/// <param name="ProcessId"><c>ut_pid</c>, the session's login process.</param>
/// <param name="Line"><c>ut_line</c>: the tty relative to /dev, e.g. <c>pts/3</c>.</param>
/// <param name="User"><c>ut_user</c>: the login name.</param>
/// <param name="Host"><c>ut_host</c>: where the user came from, if remote.</param>
/// <param name="LoginTime"><c>ut_tv</c>, the login time.</param>
public readonly record struct UtmpEntry(short Type, int ProcessId, string Line, string User, string Host, DateTimeOffset LoginTime);

/// <summary>
/// The glibc <c>struct utmp</c> of x86_64 and aarch64 Linux: 384-byte records, native (little-endian) integers, fixed
/// NUL-padded strings. A partial record at the end (the file being written) is ignored; strings are read up to their
/// first NUL and decoded as UTF-8 (invalid octets become U+FFFD), so garbage yields odd names, never an exception.
/// </summary>
public static class Utmp
{
    /// <summary>Size of one record.</summary>
    public const int RecordSize = 384;

    /// <summary><c>USER_PROCESS</c>: a normal login session.</summary>
    public const short UserProcess = 7;

    /// <summary>Largest utmp file read; a real one holds a few dozen records.</summary>
    public const int MaxFileBytes = 4 * 1024 * 1024;

    private const int TypeOffset = 0, PidOffset = 4, LineOffset = 8, LineSize = 32, UserOffset = 44, UserSize = 32,
        HostOffset = 76, HostSize = 256, TimeOffset = 340;

    /// <summary>Parses whole records from <paramref name="data"/>.</summary>
    public static List<UtmpEntry> Parse(ReadOnlySpan<byte> data)
    {
        var entries = new List<UtmpEntry>(data.Length / RecordSize);
        for (var offset = 0; offset + RecordSize <= data.Length; offset += RecordSize)
        {
            var record = data.Slice(offset, RecordSize);
            var seconds = MemoryMarshal.Read<int>(record.Slice(TimeOffset, 4));
            entries.Add(new UtmpEntry(
                MemoryMarshal.Read<short>(record.Slice(TypeOffset, 2)),
                MemoryMarshal.Read<int>(record.Slice(PidOffset, 4)),
                Field(record.Slice(LineOffset, LineSize)),
                Field(record.Slice(UserOffset, UserSize)),
                Field(record.Slice(HostOffset, HostSize)),
                // ut_tv.tv_sec is 32 bits (signed, as glibc keeps it for compatibility) seconds since 1970.
                DateTimeOffset.FromUnixTimeSeconds((uint)seconds)));
        }
        return entries;
    }

    /// <summary>Reads and parses a utmp file (at most <see cref="MaxFileBytes"/>).</summary>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be read.</exception>
    public static List<UtmpEntry> Read(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1);
        // Sized by the file (a utmp is a few KiB); a character device or a growing file still stops at the cap.
        var buffer = new byte[file.CanSeek ? (int)Math.Min(file.Length, MaxFileBytes) : MaxFileBytes];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = file.Read(buffer, length, buffer.Length - length);
            if (read == 0) break;
            length += read;
        }
        return Parse(buffer.AsSpan(0, length));
    }

    /// <summary>
    /// Builds a record (tests, tools): the fields given, the rest zero. Strings longer than their field are cut.
    /// </summary>
    public static byte[] Record(short type, int processId, string line, string user, string host = "", DateTimeOffset? loginTime = null)
    {
        var record = new byte[RecordSize];
        MemoryMarshal.Write(record.AsSpan(TypeOffset, 2), in type);
        MemoryMarshal.Write(record.AsSpan(PidOffset, 4), in processId);
        Put(record.AsSpan(LineOffset, LineSize), line);
        Put(record.AsSpan(UserOffset, UserSize), user);
        Put(record.AsSpan(HostOffset, HostSize), host);
        var seconds = (int)(loginTime ?? DateTimeOffset.UnixEpoch).ToUnixTimeSeconds();
        MemoryMarshal.Write(record.AsSpan(TimeOffset, 4), in seconds);
        return record;
    }

    private static void Put(Span<byte> field, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        bytes.AsSpan(0, Math.Min(bytes.Length, field.Length)).CopyTo(field);
    }

    private static string Field(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }
}
