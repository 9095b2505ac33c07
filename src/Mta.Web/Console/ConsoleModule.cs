// The web console: overview, queue browser, destinations and recent deliveries, and the operator's actions on the queue.
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Web.Hosting;

namespace Mta.Web.Console;

/// <summary>
/// Server-rendered pages on the server's own Kestrel. Reading needs a login against the users file unless
/// <c>Web:AnonymousRead</c> is true; an action needs a user named in <c>Web:Admins</c>, a POST, an antiforgery token and
/// an Origin that is the console's own. The login cookie and the antiforgery cookie are HttpOnly and SameSite=Strict,
/// and their keys live in memory only, so a restart logs everybody out rather than leaving keys on disk.
/// </summary>
internal sealed class ConsoleModule(MtaOptions options) : IWebModule
{
    internal const string ReadPolicy = "mta-console-read";
    internal const string AdminPolicy = "mta-console-admin";
    internal const string CookieName = "mta-console";
    internal const string AntiforgeryCookieName = "mta-console-csrf";
    internal const string AntiforgeryField = "__csrf";

    public bool StartsServer => options.Web.Enabled;

    public void ConfigureServices(IServiceCollection web, IServiceProvider engine)
    {
        if (!options.Web.Enabled) return;
        web.TryAddEngineSingleton<IQueueAdministration>(engine);
        web.TryAddEngineSingleton<UserStore>(engine);
        web.TryAddEngineSingleton<AuthFailureLimiter>(engine);
        web.TryAddEngineSingleton<TimeProvider>(engine);
        web.TryAddEngineSingleton<MtaOptions>(engine);
        web.AddSingleton<ConsoleSources>(sp => new ConsoleSources(engine));
        web.AddSingleton<ConsolePages>();
        web.AddSingleton<ConsoleActions>();
        web.AddSingleton<ConsoleLogin>();

        web.AddDataProtection().UseEphemeralDataProtectionProvider();
        web.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(cookie =>
        {
            cookie.Cookie.Name = CookieName;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = "/login";
            cookie.LogoutPath = "/logout";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
            // A logged-in user who is no administrator gets a plain 403, not a redirect to a page that does not exist.
            cookie.Events.OnRedirectToAccessDenied = context =>
            {
                var logger = context.HttpContext.RequestServices.GetRequiredService<ILogger<ConsoleActions>>();
                ConsoleActions.LogForbidden(logger, context.HttpContext.User.Identity?.Name ?? "-", context.Request.Method, context.Request.Path);
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            };
        });
        web.AddAuthorizationBuilder()
            .AddPolicy(ReadPolicy, policy => policy.RequireAssertion(context =>
                options.Web.AnonymousRead || context.User.Identity?.IsAuthenticated == true))
            .AddPolicy(AdminPolicy, policy => policy.RequireAuthenticatedUser().RequireAssertion(context =>
                IsAdmin(options, context.User.Identity?.Name)));
        web.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = AntiforgeryCookieName;
            antiforgery.Cookie.HttpOnly = true;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = Microsoft.AspNetCore.Http.CookieSecurePolicy.SameAsRequest;
            antiforgery.FormFieldName = AntiforgeryField;
            antiforgery.SuppressXFrameOptionsHeader = false;
        });
    }

    public void Configure(WebApplication app)
    {
        if (!options.Web.Enabled) return;
        // Behind a TLS proxy on the same host: the client's scheme (so the cookies are Secure) and address (so the
        // login limiter counts the client, not the proxy). Trusted from loopback only, ASP.NET Core's default.
        app.UseForwardedHeaders(new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto });
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapGet(ConsoleStyles.Path, ConsoleStyles.Serve).AllowAnonymous();
        app.Services.GetRequiredService<ConsoleLogin>().Map(app);
        app.Services.GetRequiredService<ConsolePages>().Map(app.MapGroup("").RequireAuthorization(ReadPolicy));
        app.Services.GetRequiredService<ConsoleActions>().Map(app.MapGroup("").RequireAuthorization(AdminPolicy));
    }

    /// <summary>True when <paramref name="user"/> holds the console's administrator role (<c>Web:Admins</c>).</summary>
    internal static bool IsAdmin(MtaOptions options, string? user) =>
        user is { Length: > 0 } && options.Web.Admins.Contains(user, StringComparer.OrdinalIgnoreCase);
}

internal static class EngineBridge
{
    /// <summary>Shares the engine's instance of <typeparamref name="T"/> unless another module already did.</summary>
    public static void TryAddEngineSingleton<T>(this IServiceCollection web, IServiceProvider engine) where T : class
    {
        if (web.Any(d => d.ServiceType == typeof(T))) return;
        web.AddSingleton(engine.GetRequiredService<T>());
    }
}
