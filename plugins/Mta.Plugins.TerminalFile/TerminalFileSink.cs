// The file terminal sink: USER.active marks a user active; each message is appended to USER.term as a short text block.
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Plugins.TerminalFile;

/// <summary>
/// A user is active while <c>DIR/USER.active</c> exists; a message is appended to <c>DIR/USER.term</c> as
/// <code>
/// --- 2025-06-01 12:00 +00:00 from alice@example.org: the subject
/// the text, line by line
/// (a blank line)
/// </code>
/// A text line that would start with <c>---</c> gets a leading space, so a reader can split the file on header lines.
/// Failures (a missing folder, a full disk, a file over the limit, a symlink in place of the file) make the delivery
/// "not shown" here and are logged; they never throw.
/// </summary>
public sealed class TerminalFileSink : ITerminalSink
{
    /// <summary>Default of <c>MaxFileBytes</c>: 1 MiB.</summary>
    public const long DefaultMaxFileBytes = 1024 * 1024;

    /// <summary>Default of <c>FileMode</c> for a USER.term the sink creates: 0600.</summary>
    public const UnixFileMode DefaultFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _directory;
    private readonly long _maxFileBytes;
    private readonly UnixFileMode _mode;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _write = new(1, 1);

    /// <summary>Creates the sink over <paramref name="directory"/> (an existing folder).</summary>
    public TerminalFileSink(string directory, long maxFileBytes, UnixFileMode mode, ILogger logger)
    {
        _directory = directory;
        _maxFileBytes = maxFileBytes;
        _mode = mode;
        _logger = logger;
    }

    /// <summary>The sink's name in logs: <c>terminal-file</c>.</summary>
    public string Name => "terminal-file";

    /// <summary>The folder of the files.</summary>
    public string Directory => _directory;

    /// <inheritdoc />
    public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken) =>
        ValueTask.FromResult(IsUsableName(user) && File.Exists(Path.Combine(_directory, user + ".active")));

    /// <inheritdoc />
    public async ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!IsUsableName(user)) return false;
        var path = Path.Combine(_directory, user + ".term");
        var block = Encoding.UTF8.GetBytes(Format(message, DateTimeOffset.Now));
        await _write.WaitAsync(cancellationToken);
        try
        {
            var info = new FileInfo(path);
            if (info.Exists || info.LinkTarget is not null)
            {
                // A link could point the server's writes anywhere (the folder may be writable by users).
                if (info.LinkTarget is not null)
                {
                    _logger.LogWarning("terminal-file: {Path} is a symbolic link; not written", path);
                    return false;
                }
                if (info.Length + block.Length > _maxFileBytes)
                {
                    _logger.LogWarning("terminal-file: {Path} would pass {MaxFileBytes} bytes; not written (empty or remove it)", path, _maxFileBytes);
                    return false;
                }
            }
            var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite | FileShare.Delete };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = _mode;
            await using var file = new FileStream(path, options);
            await file.WriteAsync(block, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning("terminal-file: cannot append to {Path}: {Reason}", path, ex.Message);
            return false;
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>The block appended for <paramref name="message"/> received at <paramref name="at"/>.</summary>
    public static string Format(TerminalMessage message, DateTimeOffset at)
    {
        var from = message.From.IsNull ? "<>" : Clean(message.From.ToString(), singleLine: true);
        var text = new StringBuilder();
        text.Append("--- ").Append(at.ToString("yyyy-MM-dd HH:mm zzz", CultureInfo.InvariantCulture)).Append(" from ").Append(from);
        if (message.Subject is { Length: > 0 } subject) text.Append(": ").Append(Clean(subject, singleLine: true));
        text.Append('\n');
        foreach (var line in Clean(message.Text, singleLine: false).TrimEnd('\n').Split('\n'))
            text.Append(line.StartsWith("---", StringComparison.Ordinal) ? " " : "").Append(line).Append('\n');
        return text.Append('\n').ToString();
    }

    // The host hands over sanitised text; the file may still be shown by a program that trusts it, so once more:
    // no control characters but newline and tab, no bidi overrides.
    private static string Clean(string text, bool singleLine)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text.Replace("\r\n", "\n", StringComparison.Ordinal))
        {
            if (c is '\n' or '\t') sb.Append(singleLine ? ' ' : c);
            else if (char.IsControl(c) || c is (>= '\u202a' and <= '\u202e') or (>= '\u2066' and <= '\u2069')) continue;
            else sb.Append(c);
        }
        return sb.ToString();
    }

    // A mailbox user as a file name: letters, digits, . _ - + only, not starting with a dot (never a path).
    private static bool IsUsableName(string? user) =>
        !string.IsNullOrEmpty(user) && user.Length <= 64 && user[0] != '.' &&
        user.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+');
}
