// ScriptUnderTest (Mta.Testing) fails as the server's load does: compile errors with their place, top-level failures.
using Mta.Abstractions;
using Mta.Engine.Extensibility.Scripts;
using Mta.Testing;

namespace Mta.Scripts.Tests;

public sealed class ScriptUnderTestTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("mta-sut-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Write(string name, string code)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, code);
        return path;
    }

    [Fact]
    public async Task A_compile_error_names_the_file_line_and_column()
    {
        var path = Write("10-broken.csx", "On<RcptContext>(ctx => HookResult.Continue)\nvar = ;\n");
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => ScriptUnderTest.LoadAsync(path, cancellationToken: Ct));
        Assert.Contains("10-broken.csx(", ex.Message, StringComparison.Ordinal);
        Assert.Contains("error CS", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Top_level_code_that_throws_or_never_returns_fails_the_load()
    {
        var throws = Write("20-throws.csx", "throw new InvalidOperationException(\"no list file\");\n");
        var thrown = await Assert.ThrowsAsync<ScriptLoadException>(() => ScriptUnderTest.LoadAsync(throws, cancellationToken: Ct));
        Assert.Contains("no list file", thrown.Message, StringComparison.Ordinal);
        Assert.Contains("20-throws.csx:line 1", thrown.Message, StringComparison.Ordinal);

        // Waits on a token nobody cancels rather than spinning, so the abandoned thread costs no CPU for the rest of the run.
        var stuck = Write("30-stuck.csx", "new System.Threading.ManualResetEventSlim().Wait();\n");
        var timedOut = await Assert.ThrowsAsync<ScriptLoadException>(() =>
            ScriptUnderTest.LoadAsync(stuck, loadTimeout: TimeSpan.FromMilliseconds(300), cancellationToken: Ct));
        Assert.True(timedOut.TimedOut);
    }

    [Fact]
    public async Task Settings_state_and_dns_are_the_scripts_own()
    {
        var path = Write("40-counts.csx", """
            var limit = Settings.GetValue<int>("Limit");
            On<RcptContext>(async (ctx, ct) =>
            {
                var seen = State.Increment("rcpt");
                var listed = (await Dns.GetAddressesAsync("2.0.0.127.zen.test", System.Net.Sockets.AddressFamily.InterNetwork, ct)).HasRecords;
                return listed || seen > limit ? HookResult.Reject("no", 550, "5.7.1") : HookResult.Continue;
            });
            """);
        using var script = await ScriptUnderTest.LoadAsync(path, new Dictionary<string, string?> { ["Limit"] = "1" }, cancellationToken: Ct);
        var rcpt = new RcptContext(new FakeSession(), new FakeTransaction(), new EnvelopeRecipient(new SmtpAddress("a", "example.test")), true);

        Assert.Equal(HookDecision.Continue, (await script.RunAsync(rcpt, Ct)).Decision);
        Assert.Equal(HookDecision.Reject, (await script.RunAsync(rcpt, Ct)).Decision); // over the limit of 1
        Assert.Equal(3, script.State.Increment("rcpt")); // the store the script counted in

        using var listedScript = await ScriptUnderTest.LoadAsync(path, new Dictionary<string, string?> { ["Limit"] = "100" }, cancellationToken: Ct);
        listedScript.Dns.Addresses["2.0.0.127.zen.test"] = [System.Net.IPAddress.Loopback];
        Assert.Equal(HookDecision.Reject, (await listedScript.RunAsync(rcpt, Ct)).Decision); // the DNS the test filled
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
