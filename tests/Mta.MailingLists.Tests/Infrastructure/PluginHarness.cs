// Loads the built plugin assembly and drives it through the contract alone: hand-built contexts, a fake queue.
using System.Reflection;
using System.Text;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Mta.Abstractions;
using Mta.Testing;

namespace Mta.MailingLists.Tests.Infrastructure;

/// <summary>Where the plugin project put its build output (recorded by the test project at build time).</summary>
public static class PluginBuild
{
    public static string Directory { get; } = Path.GetFullPath(typeof(PluginBuild).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "MailingListsPluginDir").Value!);

    public static string AssemblyPath => Path.Combine(Directory, "Mta.Plugins.MailingLists.dll");

    private static readonly Lazy<Type> EntryType = new(() =>
    {
        // Loaded into the default context on purpose: its Mta.Abstractions reference then binds to the test's own
        // copy, as it binds to the host's under the real loader.
        var assembly = Assembly.LoadFrom(AssemblyPath);
        return assembly.GetTypes().Single(t => typeof(IMtaPlugin).IsAssignableFrom(t) && !t.IsAbstract);
    });

    public static IMtaPlugin Create() => (IMtaPlugin)Activator.CreateInstance(EntryType.Value)!;
}

/// <summary>One registered plugin with its hooks, agents and a recording queue.</summary>
public sealed class PluginHarness
{
    private readonly FakeRegistrar _hooks = new();
    private readonly Dictionary<string, IDeliveryAgent> _agents = new(StringComparer.OrdinalIgnoreCase);

    public PluginHarness(IDictionary<string, string?> settings)
    {
        Settings = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var context = new FakePluginContext(this);
        PluginBuild.Create().Register(context);
    }

    public IConfiguration Settings { get; }
    public RecordingSubmitter Queue { get; } = new();
    public IReadOnlyDictionary<string, IDeliveryAgent> Agents => _agents;
    public int HookCount<T>() where T : HookContext => _hooks.Count<T>();

    public ValueTask<HookResult> RunAsync<T>(T context) where T : HookContext => _hooks.RunAsync(context);

    public ValueTask<HookResult> RcptAsync(string address) =>
        RunAsync(new RcptContext(new FakeSession(), new FakeTransaction(), new EnvelopeRecipient(Parse(address)), true));

    public ValueTask<HookResult> ExpnAsync(string argument) => RunAsync(new ExpnContext(new FakeSession(), argument));

    /// <summary>Runs the route hook; returns the chosen route, or null when the plugin left the recipient alone.</summary>
    public async Task<Route?> RouteAsync(IQueuedMessage message, EnvelopeRecipient recipient)
    {
        var ctx = new RouteContext(message, recipient);
        var result = await RunAsync(ctx);
        if (result.Decision == HookDecision.Continue) return null;
        Assert.Equal(HookDecision.Accept, result.Decision);
        return ctx.ChosenRoute;
    }

    /// <summary>Routes and, for the agent route, delivers one recipient of <paramref name="message"/>.</summary>
    public async Task<DeliveryOutcome?> DeliverAsync(IQueuedMessage message, EnvelopeRecipient recipient)
    {
        var route = await RouteAsync(message, recipient);
        if (route is null) return null;
        Assert.Equal(RouteKind.Agent, route.Kind);
        var result = await _agents[route.Target].DeliverAsync(new DeliveryRequest(message, [recipient], route), CancellationToken.None);
        return Assert.Single(result.Recipients);
    }

    /// <summary>Delivers several recipients of <paramref name="message"/> in one call of the agent, as the queue does for
    /// recipients that share a route.</summary>
    public async Task<DeliveryResult> DeliverTogetherAsync(IQueuedMessage message, string agent)
    {
        var result = await _agents[agent].DeliverAsync(new DeliveryRequest(message, message.Recipients, new Route(RouteKind.Agent, agent)),
            CancellationToken.None);
        Assert.Equal(message.Recipients.Count, result.Recipients.Count);
        return result;
    }

    /// <summary>
    /// A miniature queue manager: delivers every recipient of <paramref name="first"/>, then of every message the plugin
    /// submitted, until nothing is left (or a step limit shows a runaway). Non-list recipients land in the returned
    /// "mailboxes" with the message they got.
    /// </summary>
    public async Task<QueueRun> RunQueueAsync(IQueuedMessage first, int maxSteps = 1000)
    {
        var run = new QueueRun();
        var pending = new Queue<IQueuedMessage>([first]);
        var submittedSeen = Queue.Submissions.Count;
        while (pending.Count > 0)
        {
            var message = pending.Dequeue();
            foreach (var recipient in message.Recipients)
            {
                if (++run.Steps > maxSteps) throw new InvalidOperationException("the queue never went idle");
                var outcome = await DeliverAsync(message, recipient);
                if (outcome is null) run.Mailboxes.Add((recipient.Address.ToString().ToLowerInvariant(), message));
                else run.Outcomes.Add((recipient.Address.ToString(), outcome));
            }
            while (submittedSeen < Queue.Submissions.Count) pending.Enqueue(Queue.Submissions[submittedSeen++]);
        }
        return run;
    }

    public static SmtpAddress Parse(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? new SmtpAddress(address, "") : new SmtpAddress(address[..at], address[(at + 1)..]);
    }

    public static FakeQueuedMessage Message(string from, string[] to, string raw, string id = "Q0") =>
        new(id, Parse(from), to.Select(t => new EnvelopeRecipient(Parse(t))).ToList(), Encoding.UTF8.GetBytes(raw.ReplaceLineEndings("\r\n")));

    public const string SampleMessage = """
        Received: from client.test by mta.test; Mon, 1 Jan 2024 00:00:00 +0000
        From: sender@remote.test
        To: dev@example.test
        Subject: hello list
        Message-ID: <1@remote.test>

        Body line one.
        List-Id: <not.a.header> in the body stays
        """;

    private sealed class FakePluginContext(PluginHarness harness) : IPluginContext
    {
        public string Name => "lists";
        public string Directory => PluginBuild.Directory;
        public IConfiguration Settings => harness.Settings;
        public IHookRegistrar Hooks => harness._hooks;
        public IStateStore State { get; } = new NoState();
        public ILogger Logger => NullLogger.Instance;
        public IMessageSubmitter Queue => harness.Queue;
        // The list plugin resolves nothing; a resolver with no server and no retries fails fast if that ever changes.
        public IDnsResolver Dns { get; } = new Mta.Engine.Dns.DnsResolver(new Mta.Engine.Configuration.DnsOptions { Servers = ["127.0.0.1:9"], Timeout = TimeSpan.FromMilliseconds(100), Retries = 0 },
            TimeProvider.System, NullLogger<Mta.Engine.Dns.DnsResolver>.Instance);
        public void AddDeliveryAgent(string name, IDeliveryAgent agent) => harness._agents.Add(name, agent);
        public void AddTerminalSink(ITerminalSink sink) => throw new NotSupportedException();
    }

    private sealed class NoState : IStateStore
    {
        public bool TryGet<T>(string key, out T? value) { value = default; return false; }
        public void Set<T>(string key, T value, TimeSpan? timeToLive = null) { }
        public bool Remove(string key) => false;
        public long Increment(string key, long delta = 1, TimeSpan? timeToLive = null) => delta;
    }
}

public sealed class QueueRun
{
    public int Steps { get; set; }
    public List<(string Address, IQueuedMessage Message)> Mailboxes { get; } = [];
    public List<(string Address, DeliveryOutcome Outcome)> Outcomes { get; } = [];
}

/// <summary>Runs handlers the way the host does: in order, the first non-Continue decides.</summary>
public sealed class FakeRegistrar : IHookRegistrar
{
    private readonly Dictionary<Type, List<Func<HookContext, CancellationToken, ValueTask<HookResult>>>> _handlers = [];

    public void Register<TContext>(string name, IHook<TContext> hook) where TContext : HookContext =>
        Register<TContext>(name, hook.InvokeAsync);

    public void Register<TContext>(string name, Func<TContext, CancellationToken, ValueTask<HookResult>> handler) where TContext : HookContext
    {
        if (!_handlers.TryGetValue(typeof(TContext), out var list)) _handlers[typeof(TContext)] = list = [];
        list.Add((ctx, ct) => handler((TContext)ctx, ct));
    }

    public int Count<T>() => _handlers.TryGetValue(typeof(T), out var list) ? list.Count : 0;

    public async ValueTask<HookResult> RunAsync<T>(T context) where T : HookContext
    {
        if (!_handlers.TryGetValue(typeof(T), out var list)) return HookResult.Continue;
        foreach (var handler in list)
        {
            var result = await handler(context, CancellationToken.None);
            if (result.Decision != HookDecision.Continue) return result;
        }
        return HookResult.Continue;
    }
}

/// <summary>An IMessageSubmitter that keeps what was submitted as queued messages.</summary>
public sealed class RecordingSubmitter : IMessageSubmitter
{
    private readonly Lock _gate = new();
    public List<FakeQueuedMessage> Submissions { get; } = [];

    /// <summary>Makes a submission fail as a full spool would: the recipients to the exception, or null to accept.</summary>
    public Func<IReadOnlyList<EnvelopeRecipient>, Exception?>? Failure { get; set; }

    public ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken)
    {
        Assert.NotEmpty(recipients);
        if (Failure?.Invoke(recipients) is { } failure) throw failure;
        lock (_gate)
        {
            var id = "S" + (Submissions.Count + 1);
            Submissions.Add(new FakeQueuedMessage(id, reversePath, recipients.ToList(), message.ToArray()));
            return ValueTask.FromResult(id);
        }
    }
}

public sealed class FakeQueuedMessage(string id, SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, byte[] bytes) : IQueuedMessage, IMessageContent
{
    public string QueueId => id;
    public DateTimeOffset ReceivedAt { get; } = DateTimeOffset.UtcNow;
    public TransactionKind Kind => TransactionKind.Mail;
    public SmtpAddress ReversePath => reversePath;
    public IReadOnlyList<EnvelopeRecipient> Recipients => recipients;
    public IMessageContent Content => this;
    public byte[] Bytes => bytes;
    public string Text => Encoding.UTF8.GetString(bytes);
    public long Size => bytes.Length;
    public Stream OpenRead() => new MemoryStream(bytes, writable: false);
    public ValueTask<MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(MimeMessage.Load(OpenRead(), cancellationToken));
    public string[] HeaderValues(string name) =>
        MimeMessage.Load(OpenRead()).Headers.Where(h => h.Field.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value.Trim()).ToArray();
}
