// The console's one stylesheet, served from the assembly: no CDN, no file beside the binary to lose.
using System.Reflection;
using Microsoft.AspNetCore.Http;

namespace Mta.Web.Console;

internal static class ConsoleStyles
{
    public const string Path = "/console.css";

    private static readonly byte[] Content = Load();

    public static IResult Serve(HttpContext context)
    {
        context.Response.Headers.CacheControl = "max-age=3600";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Bytes(Content, "text/css; charset=utf-8");
    }

    private static byte[] Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Mta.Web.Console.console.css")
            ?? throw new InvalidOperationException("Mta.Web.Console.console.css is not embedded");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
