// A script tested end to end: the real server loads it, a raw SMTP client talks to it on 127.0.0.1.
using Mta.Testing;
using Xunit;

namespace SiteTests;

public sealed class BlockSenderScriptTests
{
    private static string Script => Path.Combine(AppContext.BaseDirectory, "samples", "block-sender.csx");

    [Fact]
    public async Task Listed_sender_is_refused_and_others_are_delivered()
    {
        var ct = TestContext.Current.CancellationToken;
        var setup = new PolicyTestServerOptions();
        setup.Scripts.Add(Script);
        setup.ScriptSettings["block-sender:Senders:0"] = "spammer@bad.test";
        await using var server = await PolicyTestServer.StartAsync(setup, ct);
        await using var client = await server.ConnectAsync(ct);

        await client.ExpectAsync(220, cancellationToken: ct);
        await client.SendAsync("EHLO client.test", 250, cancellationToken: ct);
        await client.SendAsync("MAIL FROM:<spammer@bad.test>", 550, "blocked", ct);
        await client.SendAsync("MAIL FROM:<friend@good.test>", 250, cancellationToken: ct);
        await client.SendAsync("RCPT TO:<alice@example.test>", 250, cancellationToken: ct);
        await client.SendAsync("DATA", 354, cancellationToken: ct);
        var reply = await client.SendDataAsync("Subject: hello\n\nHi Alice\n", ct);
        Assert.Equal(250, reply.Code);
        await client.SendAsync("QUIT", 221, cancellationToken: ct);

        Assert.Single(await server.WaitForDeliveryAsync("alice"));
        // Every handler's decision is recorded, as `mta test` prints them.
        Assert.Contains(server.Decisions, d => d.Hook == "MailContext" && d.Result.Code == 550);
        Assert.Empty(server.Problems);
    }
}
