// A spool, a hook pipeline, a fake clock and a running queue manager over a temporary data directory.
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility;
using Mta.Engine.Outbound;
using Mta.Testing;
using Mta.Engine.Queue;
using Mta.Engine.Spool;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Queue;

internal sealed class QueueHarness : IAsyncDisposable
{
    public QueueHarness(string dataDirectory, FakeTimeProvider? time = null, Action<MtaOptions>? configure = null)
    {
        Options = SpoolTestData.Options(dataDirectory);
        Options.Mailboxes.Postmaster = "root";
        Options.Queue.DeliveryConcurrency = 2;
        Options.Queue.MinRetryDelay = TimeSpan.FromMinutes(5);
        Options.Queue.MaxRetryDelay = TimeSpan.FromMinutes(60);
        Options.Queue.MaxLifetime = TimeSpan.FromHours(5);
        // Never real DNS: a remote domain gets a quick temporary failure (SERVFAIL) from a stub resolver.
        Dns = Mta.Testing.StubDnsServer.Start();
        Dns.ServFailUnknownNames = true;
        Options.Dns.Servers = [Dns.EndPoint.ToString()];
        configure?.Invoke(Options);
        Paths = new MtaPaths(Options);
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
        Hooks = new HookPipeline(NullLogger<HookPipeline>.Instance, TimeSpan.FromSeconds(30));
        Spool = SpoolTestData.OpenSpool(Options);
        // The server's own composition root, with this harness's clock, hooks, spool and resolver.
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddSingleton(Options);
        services.AddSingleton(Paths);
        services.AddSingleton<TimeProvider>(Time);
        services.AddSingleton(Hooks);
        services.AddSingleton(Spool);
        services.AddMtaQueue();
        Services = services.BuildServiceProvider();
        Maildir = Services.GetRequiredService<MaildirDelivery>();
        Manager = Services.GetRequiredService<QueueScheduler>();
        Administration = Services.GetRequiredService<QueueAdministration>();
        Remote = Services.GetRequiredService<SmtpDeliveryAgent>();
        Hooks.Register<DeliveredContext>("record", (c, _) => { Delivered.Add(c); return ValueTask.FromResult(HookResult.Continue); });
        Hooks.Register<DeferredContext>("record", (c, _) => { Deferred.Add(c); return ValueTask.FromResult(HookResult.Continue); });
        Hooks.Register<BouncedContext>("record", (c, _) => { Bounced.Add(c); return ValueTask.FromResult(HookResult.Continue); });
    }

    public MtaOptions Options { get; }
    public Mta.Testing.StubDnsServer Dns { get; }
    public MtaPaths Paths { get; }
    public FakeTimeProvider Time { get; }
    public HookPipeline Hooks { get; }
    public SegmentSpool Spool { get; }
    public ServiceProvider Services { get; }
    public MaildirDelivery Maildir { get; }
    public QueueScheduler Manager { get; }
    public QueueAdministration Administration { get; }
    public SmtpDeliveryAgent Remote { get; }
    public ConcurrentBag<DeliveredContext> Delivered { get; } = [];
    /// <summary>Deliveries other than the DSNs to <see cref="Sender"/>.</summary>
    public DeliveredContext[] DeliveredMail => Delivered.Where(d => !d.Recipient.Address.Equals(Sender)).ToArray();
    public ConcurrentBag<DeferredContext> Deferred { get; } = [];
    public ConcurrentBag<BouncedContext> Bounced { get; } = [];

    public async Task StartAsync()
    {
        await Manager.StartAsync(TestContext.Current.CancellationToken);
        await Spool.RecoverAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>The sender of <see cref="SubmitAsync"/>: a local user, so the DSNs a failure causes are delivered at once.</summary>
    public static readonly SmtpAddress Sender = new("sender", "example.org");

    /// <summary>Commits a message received "now" on the fake clock and waits until the queue has acted on it.</summary>
    public Task<SpoolEnvelope> SubmitAsync(byte[] message, params string[] recipients) => SubmitFromAsync(Sender, message, recipients);

    /// <summary>As <see cref="SubmitAsync"/>, from another reverse-path.</summary>
    public async Task<SpoolEnvelope> SubmitFromAsync(SmtpAddress sender, byte[] message, params string[] recipients)
    {
        var envelope = SpoolTestData.EnvelopeFrom(sender, Time.GetUtcNow(), recipients);
        await Spool.CommitAsync(envelope, SpoolTestData.Seq(message), TestContext.Current.CancellationToken);
        await IdleAsync();
        return envelope;
    }

    public Task IdleAsync() => Manager.WaitForIdleAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

    /// <summary>Moves the fake clock and waits for the retries it released.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        Time.Advance(by);
        await IdleAsync();
    }

    public string[] MailFiles(string user)
    {
        var dir = Path.Combine(Paths.MaildirRoot, user, "new");
        return Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
    }

    public async ValueTask DisposeAsync()
    {
        await Manager.StopAsync(CancellationToken.None);
        await Services.DisposeAsync();
        Spool.Dispose();
        await Dns.DisposeAsync();
    }
}
