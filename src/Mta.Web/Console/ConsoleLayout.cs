// The frame every console page shares: navigation, who is logged in, and the headers that keep the page to itself.
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;

namespace Mta.Web.Console;

/// <summary>One request's view of the console: the user, their role, and the form token their forms carry.</summary>
internal sealed class ConsoleLayout
{
    private static readonly (string Path, string Label)[] Sections =
    [
        ("/", "Overview"),
        ("/queue", "Queue"),
        ("/destinations", "Destinations"),
        ("/deliveries", "Recent deliveries"),
        (ClusterPage.Path, "Cluster"),
    ];

    private readonly HttpContext _context;
    private readonly MtaOptions _options;
    private Html? _token;

    public ConsoleLayout(HttpContext context)
    {
        _context = context;
        _options = context.RequestServices.GetRequiredService<MtaOptions>();
    }

    public string? User => _context.User.Identity?.IsAuthenticated == true ? _context.User.Identity.Name : null;

    public bool IsAdmin => ConsoleModule.IsAdmin(_options, User);

    public DateTimeOffset Now => _context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow();

    /// <summary>The hidden antiforgery field for a form of this page (one token per page, stored in its cookie).</summary>
    public Html Token()
    {
        if (_token is { } token) return token;
        var tokens = _context.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(_context);
        _token = Html.Of($"<input type=\"hidden\" name=\"{tokens.FormFieldName}\" value=\"{tokens.RequestToken}\">");
        return _token.Value;
    }

    /// <summary>A POST form of one button, for an administrator's action.</summary>
    public Html ActionButton(string action, string label, string css = "") =>
        Html.Of($"<form method=\"post\" action=\"{action}\" class=\"inline\">{Token()}<button type=\"submit\" class=\"{css}\">{label}</button></form>");

    /// <summary>The whole page, with <paramref name="section"/> marked in the navigation.</summary>
    public IResult Page(string title, string section, Html body, int status = StatusCodes.Status200OK)
    {
        var nav = Html.Join(Sections.Select(s => s.Path == section
            ? Html.Of($"<a href=\"{s.Path}\" class=\"on\" aria-current=\"page\">{s.Label}</a>")
            : Html.Of($"<a href=\"{s.Path}\">{s.Label}</a>")));
        var who = User is { } user
            ? Html.Of($"<span class=\"user\">{user}{(IsAdmin ? Html.Raw(" <span class=\"role\">admin</span>") : Html.Empty)}</span><form method=\"post\" action=\"/logout\" class=\"inline\">{Token()}<button type=\"submit\" class=\"link\">Log out</button></form>")
            : Html.Of($"<a href=\"/login{Html.Query(("ReturnUrl", _context.Request.Path + _context.Request.QueryString))}\">Log in</a>");
        return Document(_context, title, Html.Of($"""
            <header class="top">
              <a class="brand" href="/">Mta</a><span class="host">{_options.HostName}</span>
              <nav>{nav}</nav>
              <div class="who">{who}</div>
            </header>
            <main>
            <h1>{title}</h1>
            {body}
            </main>
            """), status);
    }

    /// <summary>A page without the navigation (the login form).</summary>
    public static IResult Document(HttpContext context, string title, Html content, int status = StatusCodes.Status200OK)
    {
        var headers = context.Response.Headers;
        // Nothing but the console's own stylesheet and inline SVG: no script runs, no other origin is reached, and no
        // other site may frame the page (clickjacking an administrator's button).
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        // same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" on the console's own POSTs.
        headers["Referrer-Policy"] = "same-origin";
        headers.CacheControl = "no-store";
        var html = Html.Of($"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{title} · Mta console</title>
            <link rel="stylesheet" href="{ConsoleStyles.Path}">
            </head>
            <body>
            {content}
            </body>
            </html>
            """);
        return Results.Content(html.ToString(), "text/html; charset=utf-8", statusCode: status);
    }
}
