// 200 reloads of one script: each old generation's collectible load context is unloaded and memory stays flat.
using System.Runtime.CompilerServices;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Extensibility.Scripts;

namespace Mta.Scripts.Tests;

[CollectionDefinition(nameof(MemoryCollection), DisableParallelization = true)]
public sealed class MemoryCollection;

[Collection(nameof(MemoryCollection))]
public sealed class MemoryTests(ITestOutputHelper output)
{
    private const string Code = """
        // A script with a closure, a regex and state, like the shipped ones.
        var pattern = new Regex("^(spam|junk)$", RegexOptions.IgnoreCase);
        var hits = 0;
        On<RcptContext>(ctx =>
        {
            hits++;
            return pattern.IsMatch(ctx.Recipient.Address.LocalPart) ? HookResult.Reject($"no ({hits})", 550, "5.7.1") : HookResult.Continue;
        });
        On<NoopContext>(async (ctx, ct) => { await Task.Yield(); return HookResult.Continue; });
        """;

    [Fact]
    public async Task Two_hundred_reloads_unload_every_old_generation_and_keep_memory_flat()
    {
        using var folder = new ScriptFolder();
        folder.Write("reloaded", Code);
        await using var server = await Scripting.StartAsync(folder);
        var host = server.ScriptHost();
        var contexts = new List<WeakReference>();
        long memoryAt20 = 0;
        var assembliesAt20 = 0;

        for (var i = 1; i <= 200; i++)
        {
            contexts.Add(WeakContext(host, "reloaded"));
            Assert.True(await host.ReloadAsync("reloaded"));
            if (i % 50 == 0) await UseAsync(server); // handlers of a reloaded generation run, then are dropped
            if (i == 20)
            {
                FullCollect();
                memoryAt20 = GC.GetTotalMemory(forceFullCollection: true);
                assembliesAt20 = AppDomain.CurrentDomain.GetAssemblies().Length;
            }
        }
        FullCollect();
        var memoryAt200 = GC.GetTotalMemory(forceFullCollection: true);
        var assembliesAt200 = AppDomain.CurrentDomain.GetAssemblies().Length;
        var alive = contexts.Count(c => c.IsAlive);
        output.WriteLine($"generation {host.GenerationOf("reloaded")}; old contexts alive {alive}/200; memory after 20 reloads {memoryAt20 / 1048576.0:0.0} MB, " +
            $"after 200 {memoryAt200 / 1048576.0:0.0} MB; assemblies {assembliesAt20} -> {assembliesAt200}");

        Assert.Equal(201, host.GenerationOf("reloaded"));
        Assert.True(alive <= 5, $"{alive} of 200 old script load contexts were not collected");
        Assert.True(memoryAt200 - memoryAt20 < 30L * 1024 * 1024, $"memory grew from {memoryAt20} to {memoryAt200} bytes");
        Assert.True(assembliesAt200 - assembliesAt20 < 20, $"loaded assemblies grew from {assembliesAt20} to {assembliesAt200}");
        await UseAsync(server);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference WeakContext(ScriptHost host, string name) => new(host.LoadContextOf(name) ?? throw new InvalidOperationException("not loaded"));

    private static void FullCollect()
    {
        for (var i = 0; i < 5; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        GC.Collect();
    }

    private static async Task UseAsync(MtaTestServer server)
    {
        await using var c = await SmtpAssert.ConnectAsync(server);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<x@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<spam@example.test>"), 550, "5.7.1");
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
    }
}
