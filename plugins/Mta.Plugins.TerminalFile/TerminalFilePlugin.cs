// Plugin entry: reads the folder and limits from Settings and adds the file terminal sink.
using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Plugins.TerminalFile;

/// <summary>
/// Terminal messages as files: a user is "active" while <c>DIR/USER.active</c> exists, and each terminal message for them
/// is appended to <c>DIR/USER.term</c>, where any program (a tmux status line, a desktop notifier, <c>tail -f</c>) can
/// show it. Settings: <c>Directory</c> (required), <c>MaxFileBytes</c>, <c>FileMode</c>.
/// </summary>
public sealed class TerminalFilePlugin : IMtaPlugin
{
    /// <summary>The sink added (for tests and diagnostics); set by <see cref="Register"/>.</summary>
    public TerminalFileSink? Sink { get; private set; }

    /// <inheritdoc />
    public void Register(IPluginContext context)
    {
        var settings = context.Settings;
        var directory = settings["Directory"];
        if (string.IsNullOrWhiteSpace(directory))
            throw new InvalidOperationException("Settings:Directory: required (the folder of USER.active and USER.term files)");
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory))
            throw new InvalidOperationException($"Settings:Directory: {directory} does not exist");
        var maxFileBytes = ReadLong(settings, "MaxFileBytes", TerminalFileSink.DefaultMaxFileBytes, 1024);
        var mode = ReadMode(settings["FileMode"]);
        Sink = new TerminalFileSink(directory, maxFileBytes, mode, context.Logger);
        context.AddTerminalSink(Sink);
        context.Logger.LogInformation("terminal files in {Directory} (at most {MaxFileBytes} bytes per user, new files mode {Mode})",
            directory, maxFileBytes, Convert.ToString((int)mode, 8).PadLeft(4, '0'));
    }

    private static long ReadLong(IConfiguration settings, string key, long defaultValue, long minimum)
    {
        var text = settings[key];
        if (string.IsNullOrWhiteSpace(text)) return defaultValue;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < minimum)
            throw new InvalidOperationException($"Settings:{key}: '{text}' is not a whole number of at least {minimum}");
        return value;
    }

    // An octal mode such as 0600 or 640: only read and write bits make sense for a message file.
    private static UnixFileMode ReadMode(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return TerminalFileSink.DefaultFileMode;
        try
        {
            var value = Convert.ToInt32(text.Trim(), 8);
            if (value is > 0 and <= 0x1FF && (value & 0x49) == 0 && (value & 0x180) == 0x180) return (UnixFileMode)value;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
        }
        throw new InvalidOperationException($"Settings:FileMode: '{text}' is not an octal file mode with owner read and write and no execute bits (e.g. 0600, 0640)");
    }
}
