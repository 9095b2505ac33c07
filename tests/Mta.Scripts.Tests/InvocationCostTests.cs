// Measures one script handler call through the hook pipeline: a measurement, not a check (explicit: run it by name).
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Extensibility;
using Mta.Testing;

namespace Mta.Scripts.Tests;

[Collection(nameof(MemoryCollection))]
public sealed class InvocationCostTests(ITestOutputHelper output)
{
    [Fact(Explicit = true)]
    public async Task Measure_the_cost_of_one_script_handler_call()
    {
        using var folder = new ScriptFolder();
        folder.Write("trivial", "On<RcptContext>(ctx => ctx.Recipient.Address.LocalPart == \"never\" ? HookResult.Reject(\"no\") : HookResult.Continue);");
        await using var server = await Scripting.StartAsync(folder);
        var pipeline = server.Services.GetRequiredService<HookPipeline>();
        var context = new RcptContext(new FakeSession(), new FakeTransaction(), new EnvelopeRecipient(new SmtpAddress("user", "example.test")), true);

        for (var i = 0; i < 20_000; i++) await pipeline.RunAsync(context, CancellationToken.None);
        const int calls = 100_000;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < calls; i++)
        {
            var outcome = await pipeline.RunAsync(context, CancellationToken.None);
            if (!outcome.IsContinue) throw new InvalidOperationException(outcome.ToString());
        }
        watch.Stop();
        var perCall = watch.Elapsed.TotalMicroseconds / calls;
        output.WriteLine($"{calls} calls in {watch.ElapsedMilliseconds} ms: {perCall:0.00} us per script handler call");
    }
}
