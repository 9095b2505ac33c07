// `mta user add|list|remove` as a process: exit codes, the 0600 users file (0640 for the data directory's owner when root
// writes it), no plain password anywhere, and a
// file the engine's UserStore verifies against.
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class UserCommandTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-user-" + Guid.NewGuid().ToString("n")[..12]);
    private readonly string _config;

    public UserCommandTests() => _config = MtaProcess.WriteConfig(_data);

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private string UsersFile => Path.Combine(_data, "users.db");

    [Fact]
    public async Task Add_as_root_leaves_the_file_readable_by_the_owner_of_the_data_directory()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux() && Environment.UserName == "root", "needs root (chown of the data directory)");
        // The data directory belongs to the service user (nobody:nogroup here), as the installed layout has it.
        Assert.Equal(0, await RunAsync("chown", "65534:65534", _data));

        var (code, output) = await MtaProcess.RunWithInputAsync("s3cret-pass\n", "user", "add", "alice", "--password-stdin", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Equal("65534:65534 640", await StatAsync(UsersFile));

        // A second change keeps it so (the file is rewritten, not edited in place).
        (code, output) = await MtaProcess.RunWithInputAsync("other-pass\n", "user", "add", "bob", "--password-stdin", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Equal("65534:65534 640", await StatAsync(UsersFile));
        Assert.StartsWith("65534:65534", await StatAsync(UsersFile + ".lock"));
    }

    private static async Task<int> RunAsync(string file, params string[] args)
    {
        using var process = System.Diagnostics.Process.Start(file, args);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return process.ExitCode;
    }

    private static async Task<string> StatAsync(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u:%g %a", path]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return output.Trim();
    }

    [Fact]
    public async Task Add_list_remove_round_trip()
    {
        var (code, output) = await MtaProcess.RunWithInputAsync("Tr0ub4dor&3\n", "user", "add", "alice", "--password-stdin", "--config", _config);
        Assert.True(code == 0, output);
        (code, output) = await MtaProcess.RunWithInputAsync("b0b-pass\n", "user", "add", "bob", "--address", "bob@example.test",
            "--address", "robert@example.test", "--password-stdin", "--config", _config);
        Assert.True(code == 0, output);

        var text = await File.ReadAllTextAsync(UsersFile);
        Assert.DoesNotContain("Tr0ub4dor&3", text);
        Assert.DoesNotContain("b0b-pass", text);
        Assert.Contains("alice:$pbkdf2-sha256$600000$", text);
        if (!OperatingSystem.IsWindows())
            // Root writes it for the data directory's owner and group (0640); anyone else keeps it to themselves.
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | (Environment.UserName == "root" ? UnixFileMode.GroupRead : 0),
                File.GetUnixFileMode(UsersFile));

        (code, output) = await MtaProcess.RunToEndAsync("user", "list", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("alice\talice@example.test, alice@localhost (default)", output);
        Assert.Contains("bob\tbob@example.test, robert@example.test", output);
        Assert.DoesNotContain("pbkdf2", output);
        Assert.DoesNotContain("$", output);

        // What the command wrote is what the server verifies against.
        var store = new UserStore(new MtaOptions { DataDirectory = _data, LocalDomains = ["example.test"] });
        Assert.True(await store.VerifyAsync("alice", "Tr0ub4dor&3", TestContext.Current.CancellationToken));
        Assert.False(await store.VerifyAsync("alice", "b0b-pass", TestContext.Current.CancellationToken));
        Assert.Equal(["bob@example.test", "robert@example.test"], store.AllowedSenders("bob"));

        (code, output) = await MtaProcess.RunToEndAsync("user", "remove", "alice", "--config", _config);
        Assert.True(code == 0, output);
        (code, output) = await MtaProcess.RunToEndAsync("user", "list", "--config", _config);
        Assert.DoesNotContain("alice", output);
        Assert.Contains("bob", output);
        Assert.False(await store.VerifyAsync("alice", "Tr0ub4dor&3", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Existing_and_missing_users_exit_1()
    {
        Assert.Equal(0, (await MtaProcess.RunWithInputAsync("pw\n", "user", "add", "carol", "--password-stdin", "--config", _config)).ExitCode);
        var before = await File.ReadAllTextAsync(UsersFile);

        var (code, output) = await MtaProcess.RunWithInputAsync("other\n", "user", "add", "Carol", "--password-stdin", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("already exists", output);
        Assert.Equal(before, await File.ReadAllTextAsync(UsersFile));

        (code, output) = await MtaProcess.RunToEndAsync("user", "remove", "dave", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("no user 'dave'", output);
    }

    [Theory]
    [InlineData("pw\n", "user", "add", "--password-stdin")]                 // no USER
    [InlineData("pw\n", "user", "add", "a:b", "--password-stdin")]          // a name the file cannot hold
    [InlineData("pw\n", "user", "add", "erin", "--address", "not-an-address", "--password-stdin")]
    [InlineData("", "user", "add", "erin", "--password-stdin")]              // no password on stdin
    [InlineData("pw\n", "user", "add", "erin")]                              // no terminal to prompt on
    [InlineData("", "user", "list", "--frobnicate")]
    [InlineData("", "user", "remove")]
    public async Task Bad_usage_exits_2_and_writes_nothing(string input, params string[] args)
    {
        var (code, output) = await MtaProcess.RunWithInputAsync(input, [.. args, "--config", _config]);
        Assert.True(code == 2, $"exit {code}: {output}");
        Assert.False(File.Exists(UsersFile));
    }

    [Fact]
    public async Task A_bad_configuration_exits_2()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("user", "list", "--config", Path.Combine(_data, "missing.json"));
        Assert.Equal(2, code);
        Assert.Contains("file not found", output);
    }
}
