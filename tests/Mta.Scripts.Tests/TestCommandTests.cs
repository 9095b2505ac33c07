// `mta test` end to end: a site folder with a config file and a script, the command's output and exit code.
using Mta.Configuration;
using Mta.Testing;

namespace Mta.Scripts.Tests;

public sealed class TestCommandTests : IAsyncLifetime
{
    private readonly string _site = Path.Combine(Path.GetTempPath(), "mta-testcmd-" + Guid.NewGuid().ToString("n")[..12]);
    private StubDnsServer _dns = null!;

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        Directory.CreateDirectory(Path.Combine(_site, "scripts"));
        File.Copy(Path.Combine(AppContext.BaseDirectory, "samples", "block-sender.csx"), Path.Combine(_site, "scripts", "block-sender.csx"));
        File.WriteAllText(Path.Combine(_site, "mta.config.json"), $$"""
            {
              "HostName": "mx.example.test",
              "DataDirectory": "data",
              "LocalDomains": [ "example.test" ],
              "Listeners": [ { "Name": "smtp", "Address": "127.0.0.1", "Port": 1, "Tls": "None" } ],
              "Mailboxes": { "AcceptAnyLocalPart": true, "SystemUsers": false },
              "Dns": { "Servers": [ "{{_dns.EndPoint}}" ] },
              "Scripts": { "Settings": { "block-sender": { "Senders": [ "spammer@bad.test" ] } } }
            }
            """);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _dns.DisposeAsync();
        try { Directory.Delete(_site, recursive: true); } catch (IOException) { }
    }

    private async Task<(int ExitCode, string Output)> RunAsync(string from, string? script = null, string? ip = null)
    {
        var loaded = ConfigLoader.Load(Path.Combine(_site, "mta.config.json"));
        var output = new StringWriter();
        var code = await TestCommand.RunAsync(loaded.Options, script, new TestCommand.Transaction(from, ["alice@example.test"],
            "Subject: hi\n\nhello\n", ip, "client.test"), output, TestContext.Current.CancellationToken);
        return (code, output.ToString());
    }

    [Fact]
    public async Task Refused_sender_prints_the_script_decision_and_exits_1()
    {
        var (code, output) = await RunAsync("spammer@bad.test");

        Assert.Equal(1, code);
        Assert.Matches(@"hook MailContext +script:block-sender +Reject 550 5\.7\.1 Sender blocked", output);
        Assert.Contains("< 550 5.7.1 Sender blocked by local policy", output);
        Assert.EndsWith("result: refused" + Environment.NewLine, output);
    }

    [Fact]
    public async Task Accepted_message_is_held_not_delivered_and_exits_0()
    {
        var (code, output) = await RunAsync("friend@good.test", script: Path.Combine(_site, "scripts", "block-sender.csx"), ip: "192.0.2.7");

        Assert.Equal(0, code);
        Assert.Matches(@"hook MailContext +script:block-sender +Continue", output);
        Assert.Contains("[192.0.2.7]", output);
        Assert.Contains("< 250 2.0.0 held by the test server", output);
        Assert.EndsWith("result: accepted" + Environment.NewLine, output);
        // Nothing of the run is left in the site's folder: its state lived in a temporary one.
        Assert.False(Directory.Exists(Path.Combine(_site, "data")));
    }
}
