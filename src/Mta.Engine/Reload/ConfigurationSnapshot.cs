// The configuration file the server runs with, as the reload coordinator reads it again: bound, validated options and the raw keys.
using Mta.Engine.Configuration;

namespace Mta.Engine.Reload;

/// <summary>One reading of the configuration file.</summary>
/// <param name="Source">The file's full path.</param>
/// <param name="Options">Bound and validated exactly as at start.</param>
/// <param name="Values">Every configuration key with its value (sections left out), to tell which keys changed.</param>
public sealed record ConfigurationSnapshot(string Source, MtaOptions Options, IReadOnlyDictionary<string, string?> Values);

/// <summary>A configuration that cannot be used: every problem, each starting with its key.</summary>
public sealed class InvalidConfigurationException(string source, IReadOnlyList<string> errors)
    : Exception($"Invalid configuration in {source}: " + string.Join("; ", errors))
{
    /// <summary>The file read.</summary>
    public string File { get; } = source;

    /// <summary>Every problem found.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// Reads the configuration file the server started from, the way the host read it at start (the host registers it:
/// the engine does not know the file format or the environment overrides).
/// </summary>
public interface IConfigurationReader
{
    /// <summary>What the server started with.</summary>
    ConfigurationSnapshot Started { get; }

    /// <summary>Reads, binds and validates the file again.</summary>
    /// <exception cref="InvalidConfigurationException">The file is missing, unreadable, malformed or fails validation.</exception>
    ConfigurationSnapshot Read();

    /// <summary>Called after a reload was applied: the host refreshes what it reads from the configuration itself
    /// (log levels).</summary>
    void Applied();
}
