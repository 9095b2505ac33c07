// The console log formats `Logging:Format` selects: one place for their names, so the validator and the host agree.
namespace Mta.Engine.Configuration;

/// <summary>How `mta run` writes its log lines to the console.</summary>
public enum LogFormat
{
    /// <summary>One plain line per event: timestamp, level, category[event id], message. The default.</summary>
    Text,
    /// <summary>One JSON object per line: timestamp, level, category, event id, message and every structured field.</summary>
    Json,
    /// <summary>A syslog priority prefix (<c>&lt;6&gt;</c>) per line and no timestamp, for journald; chosen by itself under systemd.</summary>
    Systemd,
}

public static class LogFormats
{
    /// <summary>The configuration key, below the <c>Logging</c> section that Microsoft.Extensions.Logging reads.</summary>
    public const string Key = "Logging:Format";

    /// <summary>The names accepted, for error messages and docs.</summary>
    public const string Names = "text, json, systemd";

    /// <summary>Reads <c>Logging:Format</c>: null when unset or empty (the host then picks text or systemd itself).</summary>
    public static bool TryParse(string? value, out LogFormat? format)
    {
        format = null;
        if (string.IsNullOrWhiteSpace(value)) return true;
        // Enum.TryParse would also take "1" or "Text, Json"; only the three names are a format.
        switch (value.Trim().ToLowerInvariant())
        {
            case "text": format = LogFormat.Text; return true;
            case "json": format = LogFormat.Json; return true;
            case "systemd": format = LogFormat.Systemd; return true;
            default: return false;
        }
    }
}
