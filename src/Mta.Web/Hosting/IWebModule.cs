// One area of the HTTP side (console, health, metrics) as it plugs into the web host.
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Mta.Web.Hosting;

/// <summary>
/// An area served by <see cref="MtaWebServer"/>. Registered in the engine's services; the web host, which has services
/// of its own, asks each module for the engine singletons it bridges over and for its middleware and endpoints.
/// </summary>
public interface IWebModule
{
    /// <summary>True when this area needs the HTTP listener (its feature is turned on). The listener starts when any
    /// module says so; then every module is configured, and one whose feature is off maps nothing.</summary>
    bool StartsServer { get; }

    /// <summary>Adds the web application's services: the engine singletons this area reads (resolved from
    /// <paramref name="engine"/>, so both sides share one instance) and ASP.NET Core features it uses.</summary>
    /// <param name="web">The web application's services.</param>
    /// <param name="engine">The engine's services.</param>
    void ConfigureServices(IServiceCollection web, IServiceProvider engine);

    /// <summary>Adds this area's middleware and endpoints, in the order of registration of the modules.</summary>
    /// <param name="app">The web application, not yet started.</param>
    void Configure(WebApplication app);
}
