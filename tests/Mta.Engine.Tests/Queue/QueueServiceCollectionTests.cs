// AddMtaQueue wires one spool instance as both the receiver's IMessageSpool and the queue's store.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Queue;
using Mta.Engine.Spool;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Queue;

public sealed class QueueServiceCollectionTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AddMtaQueue_registers_spool_delivery_and_the_hosted_scheduler()
    {
        var options = SpoolTestData.Options(_dir.Path);
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddSingleton(options);
        services.AddSingleton(new MtaPaths(options));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new HookPipeline(NullLogger<HookPipeline>.Instance, TimeSpan.FromSeconds(5)));
        services.AddMtaQueue();
        await using var provider = services.BuildServiceProvider();

        Assert.Same(provider.GetRequiredService<SegmentSpool>(), provider.GetRequiredService<IMessageSpool>());
        Assert.Same(provider.GetRequiredService<QueueScheduler>(), Assert.Single(provider.GetServices<IHostedService>()));
    }
}
