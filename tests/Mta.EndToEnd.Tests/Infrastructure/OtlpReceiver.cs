// A collector stand-in for OTLP/HTTP on loopback: Kestrel taking /v1/metrics and /v1/traces and keeping each post.
using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Mta.EndToEnd.Tests.Infrastructure;

/// <summary>Takes OTLP/HTTP posts and keeps their bodies by path; answers 200 with an empty protobuf response.</summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    public ConcurrentQueue<(string Path, string ContentType, byte[] Body)> Posts { get; } = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public Uri Address { get; private set; } = null!;

    public static async Task<OtlpReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        foreach (var path in new[] { "/v1/metrics", "/v1/traces" })
        {
            app.MapPost(path, async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                receiver.Posts.Enqueue((path, context.Request.ContentType ?? "", body.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
        }
        await app.StartAsync();
        receiver.Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
        return receiver;
    }

    /// <summary>True when a post to <paramref name="path"/> carries every one of <paramref name="strings"/> (protobuf
    /// keeps strings as UTF-8 bytes, so names, tags and ids can be found without decoding).</summary>
    public bool Received(string path, params string[] strings) =>
        Posts.Any(p => p.Path == path && strings.All(s => p.Body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(s)) >= 0));

    /// <summary>How many times <paramref name="value"/> occurs in the posts to <paramref name="path"/>.</summary>
    public int Count(string path, string value)
    {
        var needle = Encoding.UTF8.GetBytes(value);
        var count = 0;
        foreach (var post in Posts)
        {
            if (post.Path != path) continue;
            var body = post.Body.AsSpan();
            for (var at = body.IndexOf(needle); at >= 0; at = body.IndexOf(needle))
            {
                count++;
                body = body[(at + needle.Length)..];
            }
        }
        return count;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
