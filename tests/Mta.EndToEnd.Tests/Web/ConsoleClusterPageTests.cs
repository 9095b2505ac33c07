// The console's Cluster page against a private redis-server: this node's heartbeat as a table row, then, with Redis
// gone, a sentence saying why there is no view (never an error page).
using System.Net;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests.Web;

public sealed class ConsoleClusterPageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_cluster_page_lists_the_nodes_from_Redis_and_says_so_when_Redis_is_gone()
    {
        RedisServer.SkipUnlessInstalled();
        await using var redis = await RedisServer.StartAsync();
        await using var site = await ConsoleSite.StartAsync(anonymousRead: true, configure: o =>
        {
            o.Node.Name = "web-node";
            o.Node.HeartbeatInterval = TimeSpan.FromMilliseconds(200);
            o.State.Provider = StateProvider.Redis;
            o.State.Redis.Configuration = redis.Configuration;
        });
        using var client = site.NewClient();

        string page = "";
        await Conditions.WaitUntilAsync(async () =>
        {
            using var response = await client.GetAsync("/cluster", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            page = await response.Content.ReadAsStringAsync(Ct);
            return page.Contains("<strong>web-node</strong> (this node)", StringComparison.Ordinal);
        }, "web-node on the cluster page", TimeSpan.FromSeconds(15), Ct);
        Assert.Contains("<span class=\"badge b-up\">up</span>", page);
        Assert.Contains("aria-current=\"page\">Cluster</a>", page);
        Assert.DoesNotContain("<script", page);

        redis.Kill();
        await Conditions.WaitUntilAsync(async () =>
        {
            using var response = await client.GetAsync("/cluster", Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            page = await response.Content.ReadAsStringAsync(Ct);
            return page.Contains("Cluster view unavailable: ", StringComparison.Ordinal);
        }, "the page saying the view is unavailable", TimeSpan.FromSeconds(15), Ct);
    }
}
