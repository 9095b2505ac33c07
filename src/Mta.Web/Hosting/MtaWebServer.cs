// Kestrel inside the server process: a WebApplication of its own, started and stopped with the engine's host.
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Web.Hosting;

/// <summary>
/// The HTTP listener of the console, health endpoints and Prometheus scrape. It is a hosted service of the engine's
/// host rather than the host itself, so that <c>mta run</c> stays a generic host whose start and stop order the engine
/// decides, and so that a server with every HTTP feature off loads no Kestrel at all. The web application has its own
/// services; the modules bridge the engine singletons they read.
/// </summary>
public sealed partial class MtaWebServer : IHostedService, IAsyncDisposable
{
    private readonly IServiceProvider _engine;
    private readonly IReadOnlyList<IWebModule> _modules;
    private readonly WebOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private WebApplication? _app;

    /// <summary>Created by the engine's services (<see cref="WebServiceCollectionExtensions.AddMtaWeb"/>).</summary>
    public MtaWebServer(IServiceProvider engine, IEnumerable<IWebModule> modules, MtaOptions options, ILoggerFactory loggerFactory)
    {
        _engine = engine;
        _modules = modules.ToArray();
        _options = options.Web;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<MtaWebServer>();
    }

    /// <summary>The URLs Kestrel bound (a port 0 resolved to the real one); empty when the listener is not running.</summary>
    public IReadOnlyList<Uri> Addresses { get; private set; } = [];

    /// <summary>True once the listener is bound, and until it stops.</summary>
    public bool IsListening => Addresses.Count > 0;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_modules.Any(m => m.StartsServer)) return;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "Mta.Web" });
        // The engine's logging, filters and format: one log for the whole process.
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(_loggerFactory);
        builder.WebHost.UseUrls([.. _options.EffectiveUrls]);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            // A console page and a scrape are small; nothing here takes uploads.
            kestrel.Limits.MaxRequestBodySize = 64 * 1024;
        });
        foreach (var module in _modules) module.ConfigureServices(builder.Services, _engine);
        var app = builder.Build();
        foreach (var module in _modules) module.Configure(app);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            await app.DisposeAsync();
            throw new StartupException($"Web:Urls: cannot listen on {string.Join(", ", _options.EffectiveUrls)}: {ex.Message}", ex);
        }
        _app = app;
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        Addresses = [.. bound.Select(a => new Uri(a))];
        LogListening(string.Join(", ", bound));
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is null) return;
        Addresses = [];
        await _app.StopAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = Engine.LogEvents.Web.Listening, Level = LogLevel.Information, Message = "Web listening on {Urls}")]
    private partial void LogListening(string urls);
}
