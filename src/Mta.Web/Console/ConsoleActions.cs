// The administrator's actions on the queue: flush, delete, hold, release. Each is a POST checked twice against CSRF.
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Mta.Engine.Control;

namespace Mta.Web.Console;

/// <summary>
/// Every action needs the administrator role (the endpoints' policy), a request from a page of the console itself (its
/// Origin header) and the antiforgery token of that page. Each is logged with the user and the queue id.
/// </summary>
internal sealed partial class ConsoleActions(IQueueAdministration queue, IAntiforgery antiforgery, ILogger<ConsoleActions> logger)
{
    public void Map(IEndpointRouteBuilder admin)
    {
        admin.MapPost("/queue/flush", (Delegate)FlushAllAsync);
        admin.MapPost("/queue/{id}/flush", FlushAsync);
        admin.MapPost("/queue/{id}/delete", DeleteAsync);
        admin.MapPost("/queue/{id}/hold", HoldAsync);
        admin.MapPost("/queue/{id}/release", ReleaseAsync);
    }

    private async Task<IResult> FlushAllAsync(HttpContext context)
    {
        if (await RefuseAsync(context, antiforgery) is { } refused) return refused;
        var recipients = queue.Flush();
        LogFlushed(UserOf(context), "-", recipients);
        return Results.Redirect("/queue" + Done("flushed", recipients));
    }

    private async Task<IResult> FlushAsync(HttpContext context, string id)
    {
        if (await RefuseAsync(context, antiforgery) is { } refused) return refused;
        if (queue.Find(id) is null) return Results.NotFound();
        var recipients = queue.Flush(queueId: id);
        LogFlushed(UserOf(context), id, recipients);
        return Results.Redirect(MessagePath(id) + Done("flushed", recipients));
    }

    private async Task<IResult> DeleteAsync(HttpContext context, string id)
    {
        if (await RefuseAsync(context, antiforgery) is { } refused) return refused;
        var recipients = await queue.DeleteAsync(id, context.RequestAborted);
        LogDeleted(UserOf(context), id, recipients);
        return Results.Redirect("/queue" + Done("deleted", recipients));
    }

    private async Task<IResult> HoldAsync(HttpContext context, string id)
    {
        if (await RefuseAsync(context, antiforgery) is { } refused) return refused;
        if (queue.Find(id) is null) return Results.NotFound();
        var recipients = await queue.HoldAsync(id, context.RequestAborted);
        LogHeld(UserOf(context), id, recipients);
        return Results.Redirect(MessagePath(id) + Done("held", recipients));
    }

    private async Task<IResult> ReleaseAsync(HttpContext context, string id)
    {
        if (await RefuseAsync(context, antiforgery) is { } refused) return refused;
        if (queue.Find(id) is null) return Results.NotFound();
        var recipients = await queue.ReleaseAsync(id, context.RequestAborted);
        LogReleased(UserOf(context), id, recipients);
        return Results.Redirect(MessagePath(id) + Done("released", recipients));
    }

    // The page after the action says what was done from a code and a count, never from free text in the URL, so a
    // crafted link cannot make the console display a message of someone else's choosing.
    private static string Done(string what, int recipients) =>
        Html.Query(("done", what), ("n", recipients.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    internal static string MessagePath(string id) => "/queue/" + Uri.EscapeDataString(id);

    private static string UserOf(HttpContext context) => context.User.Identity?.Name ?? "-";

    /// <summary>
    /// Null when the POST comes from a page of the console; else the answer that refuses it. A browser names the page's
    /// origin in Origin on every POST: one of another origin is a cross-site request (403), whatever cookies it carries.
    /// A request without Origin (a script, curl) must still carry the antiforgery token of a page it fetched (400 without).
    /// The host is compared, not the scheme, so a TLS proxy in front that passes the Host header keeps working.
    /// </summary>
    internal static async Task<IResult?> RefuseAsync(HttpContext context, IAntiforgery antiforgery)
    {
        var request = context.Request;
        var origin = (string?)request.Headers.Origin;
        var fetchSite = (string?)request.Headers["Sec-Fetch-Site"];
        var foreign = origin is not null
            ? !Uri.TryCreate(origin, UriKind.Absolute, out var from) || !string.Equals(from.Authority, AuthorityOf(request), StringComparison.OrdinalIgnoreCase)
            : fetchSite is "cross-site" or "same-site";
        if (foreign)
        {
            var logger = context.RequestServices.GetService(typeof(ILogger<ConsoleActions>)) as ILogger;
            if (logger is not null) LogCrossOrigin(logger, request.Path, origin ?? fetchSite ?? "-", context.User.Identity?.Name ?? "-");
            return Results.Text("Cross-site request refused.", "text/plain", statusCode: StatusCodes.Status403Forbidden);
        }
        try
        {
            await antiforgery.ValidateRequestAsync(context);
        }
        catch (AntiforgeryValidationException)
        {
            return Results.Text("The form's antiforgery token is missing or not valid. Reload the page and try again.", "text/plain",
                statusCode: StatusCodes.Status400BadRequest);
        }
        return null;
    }

    // Host as a URI authority: the default port of the scheme left out, as Uri.Authority does for Origin.
    private static string AuthorityOf(HttpRequest request)
    {
        var host = request.Host;
        if (!host.HasValue) return "";
        return Uri.TryCreate(request.Scheme + "://" + host.Value, UriKind.Absolute, out var uri) ? uri.Authority : host.Value;
    }

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.Flushed, Level = LogLevel.Information, Message = "Console: {User} flushed {QueueId}: {Recipients} recipients due now")]
    private partial void LogFlushed(string user, string queueId, int recipients);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.Deleted, Level = LogLevel.Warning, Message = "Console: {User} deleted {QueueId}: {Recipients} recipients removed")]
    private partial void LogDeleted(string user, string queueId, int recipients);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.Held, Level = LogLevel.Information, Message = "Console: {User} held {QueueId}: {Recipients} recipients on hold")]
    private partial void LogHeld(string user, string queueId, int recipients);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.Released, Level = LogLevel.Information, Message = "Console: {User} released {QueueId}: {Recipients} recipients due now")]
    private partial void LogReleased(string user, string queueId, int recipients);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.ActionForbidden, Level = LogLevel.Warning, Message = "Console: {User} is not an administrator; {Method} {Path} refused")]
    internal static partial void LogForbidden(ILogger logger, string user, string method, string path);

    [LoggerMessage(EventId = Engine.LogEvents.WebConsole.CrossOriginRefused, Level = LogLevel.Warning, Message = "Console: cross-site POST to {Path} from {Origin} refused (user {User})")]
    private static partial void LogCrossOrigin(ILogger logger, string path, string origin, string user);
}
