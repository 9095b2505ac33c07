// `mta new test` as an author uses it: the packages packed into a local folder, the project written outside the
// repository, and a plain `dotnet test` there. Slow (a restore and a build): the one test of its kind.
using System.Diagnostics;
using System.Reflection;
using Mta.Scaffolding;

namespace Mta.Scripts.Tests;

public sealed class NewTestProjectTests
{
    private static readonly string[] Packages = ["Mta.Abstractions", "Mta.Protocol", "Mta.Engine", "Mta.Testing"];

    [Fact]
    public async Task Scaffolded_project_outside_the_repository_passes_dotnet_test_against_the_packed_package()
    {
        var ct = TestContext.Current.CancellationToken;
        var repo = RepoRoot();
        var configuration = typeof(NewTestProjectTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()!.Configuration;
        // A version of its own: the machine's package cache never hands this run an older build of the same version.
        var version = $"0.0.0-scaffold.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
        var work = Path.Combine(Path.GetTempPath(), "mta-newtest-" + Guid.NewGuid().ToString("n")[..12]);
        var feed = Path.Combine(work, "feed");
        var site = Path.Combine(work, "site");
        Directory.CreateDirectory(Path.Combine(site, "scripts"));
        try
        {
            // The projects are built (this test project references them): pack what the build made.
            foreach (var package in Packages)
                await DotnetAsync(repo, ct, "pack", Path.Combine("src", package), "-c", configuration, "--no-build", "-o", feed, $"-p:PackageVersion={version}");

            var written = NewCommand.WriteTestProject("SiteTests", Path.Combine(site, "tests", "SiteTests"), feed, projectReference: null, force: false,
                packageVersion: version);
            Assert.Contains(written, p => p.EndsWith("global.json", StringComparison.Ordinal));
            Assert.Contains(written, p => p.EndsWith("nuget.config", StringComparison.Ordinal));

            var output = await DotnetAsync(Path.Combine(site, "tests", "SiteTests"), ct, "test");
            Assert.Matches(@"total: 3\s+failed: 0\s+succeeded: 3", output);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
            // This run's packages in the machine's cache are of no use to any other run.
            var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var package in Packages)
                try { Directory.Delete(Path.Combine(cache, package.ToLowerInvariant(), version), recursive: true); } catch (IOException) { }
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<string> DotnetAsync(string directory, CancellationToken cancellationToken, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // The child is a dotnet of its own, not one more test host of this run.
        start.Environment.Remove("DOTNET_HOST_PATH");
        start.Environment.Remove("MSBuildExtensionsPath");
        start.Environment.Remove("MSBuildSDKsPath");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} in {directory} exited {process.ExitCode}:\n{output}");
        return output;
    }
}
