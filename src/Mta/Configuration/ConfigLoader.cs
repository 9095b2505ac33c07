// Loads mta.config.json (or --config FILE) plus MTA__ environment overrides, binds and validates it.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Configuration;

/// <summary>A configuration that cannot be used; each message starts with the key's path.</summary>
public sealed class ConfigException(string source, IReadOnlyList<string> errors)
    : Exception($"Invalid configuration in {source}:{Environment.NewLine}  " + string.Join(Environment.NewLine + "  ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

public sealed record LoadedConfig(IConfigurationRoot Configuration, MtaOptions Options, string Source);

public static class ConfigLoader
{
    public const string DefaultFileName = "mta.config.json";
    public const string EnvironmentPrefix = "MTA__";

    /// <summary>The file used when --config is not given: ./mta.config.json, else the embedded default beside the executable.</summary>
    public static string DefaultPath()
    {
        var local = Path.GetFullPath(DefaultFileName);
        return File.Exists(local) ? local : Path.Combine(AppContext.BaseDirectory, DefaultFileName);
    }

    public static LoadedConfig Load(string? path)
    {
        var source = Path.GetFullPath(path ?? DefaultPath());
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

        var options = new MtaOptions();
        var errors = new List<string>();
        // Defaults that are lists would otherwise be appended to, not replaced, by the binder.
        try
        {
            configuration.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(Describe(ex));
        }
        if (errors.Count == 0)
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
