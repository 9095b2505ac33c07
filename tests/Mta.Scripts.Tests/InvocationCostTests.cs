// Measures one script handler call through the hook pipeline: a measurement, not a check (explicit: run it by name).
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Extensibility;

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

    private sealed class FakeSession : ISessionInfo
    {
        public string SessionId => "bench";
        public string ListenerName => "smtp";
        public IPEndPoint RemoteEndPoint { get; } = new(IPAddress.Loopback, 40000);
        public IPEndPoint LocalEndPoint { get; } = new(IPAddress.Loopback, 25);
        public string? HeloName => "client.test";
        public bool IsExtended => true;
        public TlsInfo? Tls => null;
        public string? AuthenticatedUser => null;
        public bool IsTrustedClient => false;
        public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
    }

    private sealed class FakeTransaction : ITransaction
    {
        public TransactionKind Kind => TransactionKind.Mail;
        public SmtpAddress ReversePath { get; } = new("sender", "remote.test");
        public IReadOnlyDictionary<string, string?> MailParameters { get; } = new Dictionary<string, string?>();
        public IReadOnlyList<EnvelopeRecipient> Recipients => [];
        public void AddRecipient(EnvelopeRecipient recipient) { }
        public bool RemoveRecipient(SmtpAddress address) => false;
        public IReadOnlyList<KeyValuePair<string, string>> AddedHeaders => [];
        public void AddHeader(string name, string value) { }
        public IDictionary<string, object?> Notes { get; } = new Dictionary<string, object?>();
        public MessageAuthentication? Authentication => null;
    }
}
