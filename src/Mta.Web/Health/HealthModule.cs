// /healthz (the process answers) and /readyz (it can take mail: SMTP listeners bound, spool writable) for a load
// balancer or an orchestrator's probes. Open without a login, as probes are; they tell nothing about the mail.
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver;
using Mta.Web.Hosting;

namespace Mta.Web.Health;

internal sealed class HealthModule(MtaOptions options) : IWebModule
{
    private const string ReadyTag = "ready";

    public bool StartsServer => options.Web.Enabled;

    public void ConfigureServices(IServiceCollection web, IServiceProvider engine)
    {
        web.AddSingleton(engine.GetRequiredService<SmtpServer>());
        web.AddSingleton(engine.GetRequiredService<Engine.Status.SpoolWritableProbe>());
        web.AddSingleton(options);
        web.AddSingleton<SpoolWritableCheck>();
        web.AddHealthChecks()
            .AddCheck<ListenersBoundCheck>("listeners", tags: [ReadyTag])
            .AddCheck<SpoolWritableCheck>("spool", tags: [ReadyTag]);
    }

    public void Configure(WebApplication app)
    {
        // Alive: the process serves HTTP; no check runs, so a full disk does not get the process restarted.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync });
    }

    // {"status":"Unhealthy","checks":{"spool":{"status":"Unhealthy","description":"..."}}}: the reason without a log.
    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        var body = new Dictionary<string, object?>
        {
            ["status"] = report.Status.ToString(),
            ["checks"] = report.Entries.ToDictionary(e => e.Key, e => new Dictionary<string, string?>
            {
                ["status"] = e.Value.Status.ToString(),
                ["description"] = e.Value.Description,
            }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
