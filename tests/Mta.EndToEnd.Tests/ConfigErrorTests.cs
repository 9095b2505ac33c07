// A configuration with several mistakes is refused naming every one of them, each with its full key path, so an
// operator fixes the file in one pass rather than one error per start.
using System.Text.Json;
using Mta.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ConfigErrorTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-config-" + Guid.NewGuid().ToString("n")[..12]);

    private string Write(string json)
    {
        Directory.CreateDirectory(_root);
        var path = Path.Combine(_root, "mta.config.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static IReadOnlyList<string> ErrorsOf(string path) => Assert.Throws<ConfigException>(() => ConfigLoader.Load(path)).Errors;

    [Fact]
    public void Every_unknown_key_is_reported_with_its_full_path()
    {
        var path = Write(JsonSerializer.Serialize(new
        {
            DataDirectory = "data",
            Limits = new { MaxRecipents = 5 },
            Listners = new[] { new { Name = "smtp" } },
            Listeners = new[] { new { Name = "smtp", Adress = "127.0.0.1", Port = 0 } },
            Queue = new { Retry = new { Nope = 1 } },
            Plugins = new Dictionary<string, object> { ["greylist"] = new { Enabled = true, Ordr = 3, Settings = new { Anything = 1 } } },
            Scripts = new { Settings = new Dictionary<string, object> { ["blocklist"] = new { Free = "form" } } },
            Logging = new { LogLevel = new { Default = "Warning" } },
        }));

        var errors = ErrorsOf(path);

        Assert.Contains("Limits:MaxRecipents: unknown key", errors);
        Assert.Contains("Listners: unknown key", errors);
        Assert.Contains("Listeners:0:Adress: unknown key", errors);
        Assert.Contains("Queue:Retry: unknown key", errors);
        Assert.Contains("Plugins:greylist:Ordr: unknown key", errors);
        // Free-form sections (plugin and script settings, logging) are theirs to read, never unknown.
        Assert.Equal(5, errors.Count);
    }

    [Fact]
    public void Every_bad_value_is_reported_with_its_path_together_with_the_unknown_keys()
    {
        var path = Write("""
            {
              "DataDirectory": "data",
              "Limits": { "MaxRecipents": 5, "MaxRecipients": "many", "MaxConnectionsPerIp": "12x" },
              "Scripts": { "Timeout": "soon", "Enabled": "yes" },
              "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 0, "Tls": "Sometimes" } ]
            }
            """);

        var errors = ErrorsOf(path);

        Assert.Contains("Limits:MaxRecipents: unknown key", errors);
        Assert.Contains("Limits:MaxRecipients: 'many' is not a whole number", errors);
        Assert.Contains("Limits:MaxConnectionsPerIp: '12x' is not a whole number", errors);
        Assert.Contains("Scripts:Timeout: 'soon' is not a time span ([d.]hh:mm:ss)", errors);
        Assert.Contains("Scripts:Enabled: 'yes' is not true or false", errors);
        Assert.Contains(errors, e => e.StartsWith("Listeners:0:Tls: 'Sometimes' is not one of ", StringComparison.Ordinal));
        Assert.Equal(6, errors.Count);
    }

    [Fact]
    public void Unknown_keys_and_values_out_of_range_are_reported_in_one_run()
    {
        var path = Write("""
            { "DataDirectory": "data", "Limits": { "MaxRecipents": 5 }, "Scripts": { "Timeout": "-00:00:01", "LoadTimeout": "00:00:00" } }
            """);

        var errors = ErrorsOf(path);

        Assert.Contains("Limits:MaxRecipents: unknown key", errors);
        Assert.Contains(errors, e => e.StartsWith("Scripts:Timeout", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Scripts:LoadTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_prints_every_error()
    {
        var path = Write("""
            { "DataDirectory": "data", "Limits": { "MaxRecipents": 5, "MaxRecipients": "many" }, "Hooks": { "Timout": "00:00:01" } }
            """);

        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", path);

        Assert.True(code == 2, output);
        Assert.Contains("Limits:MaxRecipents: unknown key", output);
        Assert.Contains("Limits:MaxRecipients: 'many' is not a whole number", output);
        Assert.Contains("Hooks:Timout: unknown key", output);
    }

    [Fact]
    public void The_shipped_configurations_have_no_unknown_key()
    {
        var repository = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repository, "Mta.sln"))) repository = Path.GetDirectoryName(repository)!;
        var configs = Directory.GetFiles(repository, "mta.config.json", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                        && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
        foreach (var config in configs)
        {
            // Other problems (a file the config names is missing here) are not this test's business.
            var errors = Record.Exception(() => ConfigLoader.Load(config)) is ConfigException refused ? refused.Errors : [];
            Assert.True(!errors.Any(e => e.EndsWith(": unknown key", StringComparison.Ordinal) || e.Contains("' is not ", StringComparison.Ordinal)),
                config + ": " + string.Join("; ", errors));
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
