// Finds the configuration file (--config, MTA_CONFIG, ./mta.config.json, /etc/mta, the embedded default), loads it plus
// MTA__ environment overrides, binds and validates it; and reads it again for a reload.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;
using Mta.Engine.Reload;

namespace Mta.Configuration;

/// <summary>A configuration that cannot be used; each message starts with the key's path.</summary>
public sealed class ConfigException(string source, IReadOnlyList<string> errors)
    : Exception($"Invalid configuration in {source}:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

public sealed record LoadedConfig(IConfigurationRoot Configuration, MtaOptions Options, string Source)
{
    /// <summary>Every key with its value (sections left out), for telling which keys a reload changed.</summary>
    public IReadOnlyDictionary<string, string?> Values() =>
        Configuration.AsEnumerable().Where(kv => kv.Value is not null)
            .ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.OrdinalIgnoreCase);

    /// <summary>The engine's view of this reading.</summary>
    public ConfigurationSnapshot Snapshot() => new(Source, Options, Values());
}

/// <summary>Reads the file the server started from again, exactly as at start (same environment overrides).</summary>
public sealed class ConfigFileReader(LoadedConfig started) : IConfigurationReader
{
    /// <inheritdoc />
    public ConfigurationSnapshot Started { get; } = started.Snapshot();

    /// <inheritdoc />
    public ConfigurationSnapshot Read()
    {
        try
        {
            return ConfigLoader.Load(started.Source).Snapshot();
        }
        catch (ConfigException ex)
        {
            throw new InvalidConfigurationException(started.Source, ex.Errors);
        }
    }

    /// <inheritdoc />
    public void Applied()
    {
        // The host's configuration is chained to this root: reloading it fires the change token the logging system
        // watches, so changed log levels apply at once.
        try
        {
            started.Configuration.Reload();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException)
        {
            // Edited again since it was validated: the log levels stay; the next reload reports the file.
        }
    }
}

public static class ConfigLoader
{
    public const string DefaultFileName = "mta.config.json";
    public const string EnvironmentPrefix = "MTA__";

    /// <summary>The environment variable naming the configuration file when <c>--config</c> is not given.</summary>
    public const string ConfigVariable = "MTA_CONFIG";

    /// <summary>The configuration file of an installed server (see docs/deploy.md).</summary>
    public const string InstalledPath = "/etc/mta/" + DefaultFileName;

    /// <summary>How every command finds the configuration, in the words <c>--help</c> and the docs use.</summary>
    public const string DiscoveryRule =
        "--config FILE, else $" + ConfigVariable + ", else ./" + DefaultFileName + ", else " + InstalledPath + " when it exists, else the embedded default beside the executable";

    /// <summary>The file used when --config is not given: $MTA_CONFIG, else ./mta.config.json, else
    /// /etc/mta/mta.config.json when it exists, else the embedded default beside the executable.</summary>
    public static string DefaultPath()
    {
        if (Environment.GetEnvironmentVariable(ConfigVariable) is { Length: > 0 } named) return Path.GetFullPath(named);
        var local = Path.GetFullPath(DefaultFileName);
        if (File.Exists(local)) return local;
        if (!OperatingSystem.IsWindows() && File.Exists(InstalledPath)) return InstalledPath;
        return Path.Combine(AppContext.BaseDirectory, DefaultFileName);
    }

    /// <summary>The configuration file a command uses: <paramref name="configOption"/> (<c>--config</c>) when given,
    /// else <see cref="DefaultPath"/>. Every command finds it this way, so they all talk about the server's own file.</summary>
    public static string Find(string? configOption) => Path.GetFullPath(configOption is { Length: > 0 } ? configOption : DefaultPath());

    /// <summary>Finds (<see cref="Find"/>), reads, binds and validates the configuration.</summary>
    public static LoadedConfig Load(string? path)
    {
        var source = Find(path);
        if (!File.Exists(source)) throw new ConfigException(source, ["file not found"]);
        IConfigurationRoot configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .AddJsonFile(source, optional: false, reloadOnChange: false)
                .AddEnvironmentVariables(EnvironmentPrefix)
                .Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException)
        {
            throw new ConfigException(source, [ex.GetBaseException().Message]);
        }

        var options = new MtaOptions().ReadFrom(source);
        // Every unknown key and every value that does not convert, each with its path: the binder names only the first.
        var problems = ConfigurationShape.Check(configuration, typeof(MtaOptions));
        var errors = problems.Select(p => p.ToString()).ToList();
        var bound = false;
        if (problems.All(p => p.IsUnknownKey))
        {
            // Defaults that are lists would otherwise be appended to, not replaced, by the binder.
            try
            {
                // Unknown keys are already reported; when the walk found none, the binder's own check stays as a backstop.
                configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = errors.Count == 0);
                bound = true;
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(Describe(ex));
            }
        }
        // With only unknown keys, the values are checked too, so one run names every problem.
        if (bound)
        {
            if (options.LocalDomains.Count == 0) options.LocalDomains.Add("localhost");
            // An empty JSON array binds to nothing, yet "[]" here means "no exceptions", not "the default ones".
            if (options.Limits.ConnectionLimitExceptions is null && IsPresent(configuration, "Limits:ConnectionLimitExceptions"))
                options.Limits.ConnectionLimitExceptions = [];
            errors.AddRange(MtaOptionsValidator.Validate(options));
        }
        if (errors.Count > 0) throw new ConfigException(source, errors);
        return new LoadedConfig(configuration, options, source);
    }

    /// <summary>The control socket of the server that runs with this configuration: from a valid file as
    /// <see cref="MtaPaths.ControlSocketPath"/>; from one that does not validate, from its <c>DataDirectory</c> alone (so
    /// that <c>mta reload</c> still reaches the server, which then names every error).</summary>
    /// <exception cref="ConfigException">The file is missing or not JSON.</exception>
    public static string ControlSocketOf(string? path)
    {
        try
        {
            return new MtaPaths(Load(path).Options).ControlSocketPath;
        }
        catch (ConfigException)
        {
            var source = Find(path);
            if (!File.Exists(source)) throw;
            IConfigurationRoot raw;
            try
            {
                raw = new ConfigurationBuilder().AddJsonFile(source, optional: false, reloadOnChange: false)
                    .AddEnvironmentVariables(EnvironmentPrefix).Build();
            }
            catch (Exception ex) when (ex is FormatException or InvalidDataException or IOException)
            {
                throw new ConfigException(source, [ex.GetBaseException().Message]);
            }
            var options = new MtaOptions().ReadFrom(source);
            if (raw["DataDirectory"] is { Length: > 0 } data) options.DataDirectory = data;
            return new MtaPaths(options).ControlSocketPath;
        }
    }

    private static bool IsPresent(IConfiguration configuration, string key) =>
        configuration.AsEnumerable().Any(kv => string.Equals(kv.Key, key, StringComparison.OrdinalIgnoreCase));

    // The binder's messages name the key path for bad values, and the type plus key for unknown keys.
    private static string Describe(InvalidOperationException ex)
    {
        var messages = new List<string>();
        for (Exception? e = ex; e is not null; e = e.InnerException) messages.Add(e.Message);
        return string.Join(" ", messages.Distinct());
    }
}
