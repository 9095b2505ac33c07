// Nodes sharing one Redis that should not be alike: two processes given one Node:Name, two names whose queue ids
// carry one tag. Each says so in its log, and the cluster view lists the tag clash.
using System.Text.Json;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class NodeClashTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-clash-" + Guid.NewGuid().ToString("n")[..12]);

    private string Config(string folder, string node, RedisServer redis) =>
        MtaProcess.WriteConfig(Path.Combine(_root, folder), extra: new Dictionary<string, object?>
        {
            ["Node"] = new { Name = node, QueueIdTag = "Q7", HeartbeatInterval = "00:00:00.200" },
            ["State"] = new { Provider = "Redis", Redis = new { Configuration = redis.Configuration } },
        });

    [Fact]
    public async Task A_shared_name_and_a_shared_queue_id_tag_are_logged_and_the_view_lists_the_tag_clash()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        var twinA = Config("a", "twin", redis);
        var twinB = Config("b", "twin", redis);
        var other = Config("c", "other", redis);
        await using var a = MtaProcess.Start("run", "--config", twinA);
        await using var b = MtaProcess.Start("run", "--config", twinB);
        await using var c = MtaProcess.Start("run", "--config", other);
        await Task.WhenAll(a.WaitForListenerAsync(), b.WaitForListenerAsync(), c.WaitForListenerAsync());

        var ct = TestContext.Current.CancellationToken;
        await Conditions.WaitUntilAsync(() => (a.Output + b.Output).Contains("another process beats as node twin", StringComparison.Ordinal),
            "a twin logging the name clash", TimeSpan.FromSeconds(20), ct);
        await Conditions.WaitUntilAsync(() => c.Output.Contains("nodes other and twin both tag their queue ids Q7", StringComparison.Ordinal),
            "the other node logging the tag clash", TimeSpan.FromSeconds(20), ct);
        // Logged once per peer, not on every beat.
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        Assert.Equal(1, CountOf(c.Output, "both tag their queue ids Q7"));

        var (code, json) = await MtaProcess.RunToEndAsync("status", "--cluster", "--json", "--config", other);
        Assert.Equal(0, code);
        using var view = JsonDocument.Parse(json);
        var warning = Assert.Single(view.RootElement.GetProperty("warnings").EnumerateArray()).GetString();
        Assert.Equal("nodes other, twin share queue id tag Q7: set Node:QueueIdTag on all but one", warning);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
