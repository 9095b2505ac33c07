// Logging in to the console against the users file, with the same failure limiter SMTP AUTH uses.
using System.Net;
using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Mta.Engine.Auth;

namespace Mta.Web.Console;

/// <summary>
/// <c>/login</c> and <c>/logout</c>. A password is checked by the engine's <see cref="UserStore"/>, on its bounded
/// hashing pool; a guess counts in the engine's <see cref="AuthFailureLimiter"/>, so the console is no faster way to
/// guess an account's password than SMTP AUTH, and a client blocked there is blocked here.
/// </summary>
internal sealed partial class ConsoleLogin(UserStore users, AuthFailureLimiter limiter, IAntiforgery antiforgery, ILogger<ConsoleLogin> logger)
{
    private const int MaxField = 256;

    // (Delegate): a handler of HttpContext alone returning Task<IResult> would otherwise bind as a RequestDelegate,
    // and its result would be thrown away.
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/login", (HttpContext context, string? returnUrl) => Form(context, returnUrl, null, StatusCodes.Status200OK)).AllowAnonymous();
        app.MapPost("/login", (Delegate)LoginAsync).AllowAnonymous();
        app.MapPost("/logout", (Delegate)LogoutAsync).AllowAnonymous();
    }

    private async Task<IResult> LoginAsync(HttpContext context)
    {
        if (await ConsoleActions.RefuseAsync(context, antiforgery) is { } refused) return refused;
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var user = ((string?)form["user"] ?? "").Trim();
        var password = (string?)form["password"] ?? "";
        var returnUrl = (string?)form["returnUrl"];
        if (user.Length is 0 or > MaxField || password.Length is 0 or > MaxField)
            return Form(context, returnUrl, "Enter a user name and a password.", StatusCodes.Status400BadRequest);

        var address = context.Connection.RemoteIpAddress ?? IPAddress.Loopback;
        var attempt = limiter.IsBlocked(address) ? null : await limiter.TryBeginAttemptAsync(address, context.RequestAborted);
        if (attempt is null)
        {
            LogBlocked(address.ToString());
            return Form(context, returnUrl, "Too many failed logins from your address. Try again later.", StatusCodes.Status429TooManyRequests);
        }
        using (attempt)
        {
            var delay = limiter.DelayFor(address);
            var check = await users.CheckAsync(user, password, context.RequestAborted);
            switch (check)
            {
                case PasswordCheck.Match:
                    attempt.Succeed();
                    break;
                case PasswordCheck.Busy:
                    LogBusy(user);
                    context.Response.Headers.RetryAfter = "5";
                    return Form(context, returnUrl, "The server is busy checking passwords. Try again in a moment.", StatusCodes.Status503ServiceUnavailable);
                default:
                    await attempt.FailAsync(CancellationToken.None);
                    LogFailed(user, address.ToString());
                    // The answer waits as SMTP AUTH's does: doubling with each failure in a row from the address.
                    if (delay > TimeSpan.Zero) await Task.Delay(delay, context.RequestAborted);
                    return Form(context, returnUrl, "Wrong user name or password.", StatusCodes.Status401Unauthorized);
            }
        }

        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
        LogLoggedIn(user, address.ToString());
        return Results.Redirect(LocalOrHome(returnUrl));
    }

    private async Task<IResult> LogoutAsync(HttpContext context)
    {
        if (await ConsoleActions.RefuseAsync(context, antiforgery) is { } refused) return refused;
        if (context.User.Identity?.Name is { } user) LogLoggedOut(user);
        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Results.Redirect("/login");
    }

    private IResult Form(HttpContext context, string? returnUrl, string? error, int status)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var message = error is null ? Html.Empty : Html.Of($"<p class=\"error\" role=\"alert\">{error}</p>");
        return ConsoleLayout.Document(context, "Log in", Html.Of($"""
            <form class="login" method="post" action="/login">
              <h1>Mta console</h1>
              <p class="muted">Log in with an account of the users file.</p>
              <input type="hidden" name="{tokens.FormFieldName}" value="{tokens.RequestToken}">
              <input type="hidden" name="returnUrl" value="{LocalOrHome(returnUrl)}">
              <label for="user">User</label>
              <input type="text" id="user" name="user" autocomplete="username" required autofocus>
              <label for="password">Password</label>
              <input type="password" id="password" name="password" autocomplete="current-password" required>
              {message}
              <button type="submit" class="primary">Log in</button>
            </form>
            """), status);
    }

    // Only a path of this site: "//host" and "/\host" are other sites to a browser (an open redirect).
    internal static string LocalOrHome(string? url) =>
        url is { Length: > 0 } && url[0] == '/' && (url.Length == 1 || (url[1] != '/' && url[1] != '\\')) ? url : "/";

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.LoggedIn, Level = LogLevel.Information, Message = "Console: {User} logged in from {Address}")]
    private partial void LogLoggedIn(string user, string address);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.LoginFailed, Level = LogLevel.Warning, Message = "Console: failed login as {User} from {Address}")]
    private partial void LogFailed(string user, string address);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.LoginBusy, Level = LogLevel.Warning, Message = "Console: login as {User} not checked, the password hashing pool is full")]
    private partial void LogBusy(string user);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.LoginBlocked, Level = LogLevel.Warning, Message = "Console: login refused, {Address} has too many recent failures")]
    private partial void LogBlocked(string address);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.LoggedOut, Level = LogLevel.Information, Message = "Console: {User} logged out")]
    private partial void LogLoggedOut(string user);
}
