// The node's name on every log line of a real `mta run`: a JSON field always, and in text and systemd lines once
// Node:Name is set, so the merged logs of a cluster say which node wrote each line.
using System.Text.Json;
using System.Text.RegularExpressions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class NodeLoggingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-nodelog-" + Guid.NewGuid().ToString("n")[..12]);

    private async Task<string> RunAsync(string format, string? node)
    {
        var extra = new Dictionary<string, object?>
        {
            ["Logging"] = new { Format = format, LogLevel = new Dictionary<string, string> { ["Default"] = "Information" } },
        };
        if (node is not null) extra["Node"] = new { Name = node };
        var config = MtaProcess.WriteConfig(_root, extra: extra);
        await using var server = MtaProcess.Start("run", "--config", config);
        // The identity line (1760) comes once the listeners are bound, in every format.
        await Mta.Testing.Conditions.WaitUntilAsync(() => server.Output.Contains("this is node", StringComparison.Ordinal) || server.HasExited,
            "the node's identity line", TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return server.Output;
    }

    [Fact]
    public async Task Json_lines_carry_the_node_even_when_it_is_the_host_names_first_label()
    {
        var output = await RunAsync("json", node: null);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        foreach (var line in lines)
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal("mta", document.RootElement.GetProperty("node").GetString());
        }
        // The start-up line says who the node is and which tag its queue ids carry.
        Assert.Contains(lines, l => l.Contains("\"eventId\":1760", StringComparison.Ordinal) && l.Contains("this is node mta", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Text_lines_name_the_node_after_the_timestamp_once_Node_Name_is_set()
    {
        var output = await RunAsync("text", node: "node7");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z node7 \w+: ", l));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"node7 info: Mta\.Engine\.Receiver\.SmtpServer\[250\] listener smtp on "));
    }

    [Fact]
    public async Task Systemd_lines_name_the_node_after_the_priority_once_Node_Name_is_set()
    {
        var output = await RunAsync("systemd", node: "node7");
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, l => Assert.Matches(@"^<[0-7]>node7 \S+\[\d+\] ", l));
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
