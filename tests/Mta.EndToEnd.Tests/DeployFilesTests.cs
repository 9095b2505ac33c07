// The shipped systemd unit passes `systemd-analyze verify`, and the shipped production config passes `mta check`.
using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class DeployFilesTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-deploy-" + Guid.NewGuid().ToString("n")[..12]);

    // Copied beside the executable by src/Mta/Mta.csproj (and so beside the tests, which reference it).
    private static string Shipped(string name) => Path.Combine(AppContext.BaseDirectory, "Deploy", name);

    [Fact]
    public async Task The_unit_file_verifies_without_errors_or_warnings()
    {
        const string analyze = "/usr/bin/systemd-analyze";
        Assert.True(File.Exists(analyze), "systemd-analyze is missing: .ci/run installs the systemd package");
        var unit = await File.ReadAllTextAsync(Shipped("mta.service"));
        Assert.Contains("ExecStart=/opt/mta/mta run --config /etc/mta/mta.config.json", unit);

        // verify fails on a missing ExecStart executable: the same command line, through the dotnet host here.
        var directory = Directory.CreateDirectory(Path.Combine(_root, "units")).FullName;
        var path = Path.Combine(directory, "mta.service");
        await File.WriteAllTextAsync(path, unit.Replace("ExecStart=/opt/mta/mta ", $"ExecStart={DotnetHost()} {MtaProcess.MtaDll} "));

        var psi = new ProcessStartInfo(analyze) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // Only this unit's own problems: not those of the host's other units it names (network-online.target).
        foreach (var arg in new[] { "verify", "--recursive-errors=no", "--man=no", path }) psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await process.WaitForExitAsync(timeout.Token);
        var all = await output + await error;
        Assert.True(process.ExitCode == 0, $"systemd-analyze verify exited {process.ExitCode}:\n{all}");
        // Unknown keys and bad values are warnings that do not change the exit code; they name the file or the unit.
        var complaints = all.Split('\n').Where(l => l.Contains("mta.service", StringComparison.Ordinal)).ToArray();
        Assert.True(complaints.Length == 0, "systemd-analyze verify complains:\n" + string.Join("\n", complaints));
    }

    [Fact]
    public void The_unit_runs_the_documented_way()
    {
        var unit = File.ReadAllLines(Shipped("mta.service")).Select(l => l.Trim()).ToHashSet();
        foreach (var line in new[]
        {
            "Type=notify", "User=mta", "Group=mta", "ExecReload=/bin/kill -HUP $MAINPID",
            "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
            "StateDirectory=mta", "ConfigurationDirectory=mta", "NoNewPrivileges=yes", "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/mta", "PrivateTmp=yes", "ProtectHome=read-only", "Restart=on-failure",
        })
            Assert.Contains(line, unit);
        // systemd's SIGKILL must come after the server's own drain of sessions in DATA.
        var stop = TimeSpan.FromSeconds(int.Parse(unit.Single(l => l.StartsWith("TimeoutStopSec=")).Split('=')[1].TrimEnd('s')));
        using var config = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Shipped("mta.config.json")));
        var shutdown = TimeSpan.Parse(config.RootElement.GetProperty("ShutdownTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(stop > shutdown + TimeSpan.FromSeconds(10), $"TimeoutStopSec {stop} leaves too little over ShutdownTimeout {shutdown}");
    }

    [Fact]
    public async Task The_production_config_passes_mta_check_with_its_paths_in_a_temporary_folder()
    {
        // The paths of a real host, moved under a temporary root; the certificate and key exist there.
        var letsEncrypt = Directory.CreateDirectory(Path.Combine(_root, "letsencrypt/live/mail.example.org")).FullName;
        WriteCertificate(Path.Combine(letsEncrypt, "fullchain.pem"), Path.Combine(letsEncrypt, "privkey.pem"));
        var etc = Directory.CreateDirectory(Path.Combine(_root, "etc-mta")).FullName;
        var state = Directory.CreateDirectory(Path.Combine(_root, "var-lib-mta")).FullName;
        var aliases = Path.Combine(_root, "aliases");
        await File.WriteAllTextAsync(aliases, "postmaster: root\nroot: admin@example.org\n");
        var json = (await File.ReadAllTextAsync(Shipped("mta.config.json")))
            .Replace("/etc/aliases", aliases)
            .Replace("/etc/letsencrypt/", Path.Combine(_root, "letsencrypt") + "/")
            .Replace("/etc/mta", etc)
            .Replace("/var/lib/mta", state);
        Assert.DoesNotContain("\"/etc/", json);
        Assert.DoesNotContain("\"/var/", json);
        var config = Path.Combine(etc, "mta.config.json");
        await File.WriteAllTextAsync(config, json);

        var (exitCode, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.True(exitCode == 0, $"mta check exited {exitCode}:\n{output}");
        Assert.Contains("configuration OK (6 listener(s), local domains: example.org)", output);
    }

    private static void WriteCertificate(string certificatePath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mail.example.org", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem() + "\n");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private static string DotnetHost()
    {
        foreach (var candidate in new[] { Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"), "/usr/bin/dotnet", "/usr/share/dotnet/dotnet", "/usr/lib/dotnet/dotnet" })
            if (candidate is { Length: > 0 } && File.Exists(candidate)) return candidate;
        return Environment.ProcessPath!;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
