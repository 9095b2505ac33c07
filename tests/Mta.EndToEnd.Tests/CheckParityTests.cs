// `mta check` refuses what `mta run` refuses at start (exit 2, the key named), for the files the config names; and every
// command finds the configuration the same way (MTA_CONFIG, --config).
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class CheckParityTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-check-" + Guid.NewGuid().ToString("n")[..12]);

    public static TheoryData<string> Cases => ["password file", "certificate", "plugin folder", "script that throws", "script that never returns", "plugin whose Register throws"];

    private string WriteConfig(string broken)
    {
        Directory.CreateDirectory(_root);
        var extra = new Dictionary<string, object?>();
        switch (broken)
        {
            case "password file":
                // Relative: looked for beside the config file, not in the working directory.
                extra["Relay"] = new { SmartHost = new { Host = "[127.0.0.1]", Port = 9, UserName = "relay", PasswordFile = "relay.secret" } };
                break;
            case "certificate":
                File.WriteAllText(Path.Combine(_root, "cert.pem"), "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n");
                extra["Tls"] = new { CertificateFile = "cert.pem" };
                break;
            case "script that throws":
                Directory.CreateDirectory(Path.Combine(_root, "scripts"));
                File.WriteAllText(Path.Combine(_root, "scripts", "10-broken.csx"), "throw new InvalidOperationException(\"no settings\");\n");
                break;
            case "script that never returns":
                Directory.CreateDirectory(Path.Combine(_root, "scripts"));
                File.WriteAllText(Path.Combine(_root, "scripts", "10-broken.csx"), "while (true) System.Threading.Thread.Sleep(1000);\n");
                extra["Scripts"] = new { LoadTimeout = "00:00:01" };
                break;
            case "plugin whose Register throws":
                extra["Plugins"] = new Dictionary<string, object> { ["probe"] = new { Path = ProbeOutput(), Settings = new { RegisterThrows = "true" } } };
                break;
            case "plugin folder":
                Directory.CreateDirectory(Path.Combine(_root, "plugins", "empty"));
                extra["Plugins"] = new Dictionary<string, object> { ["empty"] = new { } };
                break;
        }
        return MtaProcess.WriteConfig(_root, extra: extra);
    }

    private static string KeyOf(string broken) => broken switch
    {
        "password file" => "Relay:SmartHost:PasswordFile",
        "certificate" => "Tls:CertificateFile",
        "script that throws" => "10-broken.csx: script 10-broken: top-level code threw InvalidOperationException: no settings",
        "plugin whose Register throws" => "probe Register failure",
        "script that never returns" => "10-broken.csx: script 10-broken: top-level code did not finish within 1 s",
        _ => "Plugins:empty",
    };

    /// <summary>The test plugin's build output (built before these tests, in the same configuration).</summary>
    private static string ProbeOutput()
    {
        var output = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory);
        var configuration = Path.GetFileName(Path.GetDirectoryName(output))!;
        var repository = output;
        while (!File.Exists(Path.Combine(repository, "Mta.sln"))) repository = Path.GetDirectoryName(repository)!;
        return Path.Combine(repository, "tests", "TestPlugins", "Mta.TestPlugins.Probe", "bin", configuration, "net10.0");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Check_fails_where_run_fails(string broken)
    {
        var config = WriteConfig(broken);

        var (checkCode, checkOutput) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.True(checkCode == 2, checkOutput);
        Assert.Contains(KeyOf(broken), checkOutput);

        var (runCode, runOutput) = await MtaProcess.RunToEndAsync("run", "--config", config);
        Assert.True(runCode != 0, runOutput);
        Assert.Contains(KeyOf(broken), runOutput);
    }

    [Fact]
    public async Task Check_fails_on_a_users_file_that_cannot_be_read()
    {
        var config = MtaProcess.WriteConfig(_root);
        // A folder where the file should be: unreadable even for root.
        Directory.CreateDirectory(Path.Combine(_root, "users.db"));
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains("Auth:UsersFile", output);
    }

    [Fact]
    public async Task Check_passes_once_the_relative_password_file_is_beside_the_config()
    {
        var config = WriteConfig("password file");
        await File.WriteAllTextAsync(Path.Combine(_root, "relay.secret"), "s3cret\n", TestContext.Current.CancellationToken);
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.True(code == 0, output);
        Assert.Contains("configuration OK", output);
    }

    [Fact]
    public async Task Every_command_finds_the_config_named_by_MTA_CONFIG()
    {
        var config = MtaProcess.WriteConfig(_root);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        psi.ArgumentList.Add(MtaProcess.MtaDll);
        psi.ArgumentList.Add("check");
        psi.Environment["MTA_CONFIG"] = config;
        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains($"{config}: configuration OK", output);

        var (code, help) = await MtaProcess.RunToEndAsync("check", "--help");
        Assert.Equal(0, code);
        Assert.Contains("MTA_CONFIG", help);
        Assert.Contains("/etc/mta/mta.config.json", help);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
