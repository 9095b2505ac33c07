// RouteKind.Agent through the queue manager, and IMessageSubmitter putting new mail into the spool.
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Extensibility.State;
using Mta.Plugins.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.Plugins.Tests;

public sealed class AgentRoutingTests
{
    private static Task<MtaTestServer> StartWithAgentAsync(Action<IHookRegistrar>? hooks = null) =>
        PluginServer.StartAsync(o =>
        {
            o.LocalDomains.Add("agent.test");
            o.Plugins["probe"] = PluginConfig.Probe(0, ("Agent", "true"), ("ResubmitTo", "copy@example.test"));
        }, hooks: hooks);

    private static async Task SendAsync(MtaTestServer server, string to, string subject, string from = "sender@remote.test")
    {
        await using var c = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, from, [to],
            $"From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nHello.\r\n"), 250);
    }

    private static async Task<T> WaitForStateAsync<T>(IStateStore state, string key)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            if (state.TryGet<T>(key, out var value)) return value!;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"no '{key}' in the plugin's state");
            await Task.Delay(20);
        }
    }

    private static IStateStore ProbeState(MtaTestServer server) =>
        server.Services.GetRequiredService<StateStoreProvider>().Get("plugin:probe");

    [Fact]
    public async Task A_plugin_route_to_its_agent_delivers_the_message_to_the_agent()
    {
        await using var server = await StartWithAgentAsync();
        await SendAsync(server, "x@agent.test", "for the agent");
        Assert.Equal("for the agent", await WaitForStateAsync<string>(ProbeState(server), "delivered:x@agent.test"));
        await server.Services.GetRequiredService<Mta.Engine.Queue.QueueScheduler>().WaitForIdleAsync();
        Assert.Equal(1, server.Services.GetRequiredService<Mta.Engine.Queue.QueueScheduler>().Totals.Delivered);
        // The agent took it: nothing went to a Maildir.
        Assert.False(Directory.Exists(server.MaildirNew("x")));
    }

    [Fact]
    public async Task A_message_submitted_by_a_plugin_is_delivered_to_the_Maildir_with_a_Received_field()
    {
        await using var server = await StartWithAgentAsync();
        await SendAsync(server, "resubmit@agent.test", "original");
        var id = await WaitForStateAsync<string>(ProbeState(server), "resubmitted-as");
        var file = Assert.Single(await server.WaitForMailAsync("copy"));
        var text = await File.ReadAllTextAsync(file);
        // Local delivery adds Return-Path and Delivered-To above the trace field the submitter wrote.
        Assert.Contains($"\r\nReceived: by mta.test (Mta) id {id}; ", text);
        Assert.Contains("Subject: resubmitted original\r\n", text);
    }

    [Fact]
    public async Task The_submitter_spools_directly()
    {
        await using var server = await PluginServer.StartAsync();
        var submitter = server.Services.GetRequiredService<IMessageSubmitter>();
        var message = Encoding.ASCII.GetBytes("Subject: direct\r\n\r\nbody\r\n");
        var id = await submitter.SubmitAsync(SmtpAddress.Null, [new EnvelopeRecipient(new SmtpAddress("someone", "example.test"))], message, CancellationToken.None);
        Assert.Matches("^[0-9A-Z]{18}$", id);
        var text = await File.ReadAllTextAsync(Assert.Single(await server.WaitForMailAsync("someone")));
        Assert.EndsWith("Subject: direct\r\n\r\nbody\r\n", text);
        await Assert.ThrowsAsync<ArgumentException>(async () =>
            await submitter.SubmitAsync(SmtpAddress.Null, [], message, CancellationToken.None));
    }

    [Fact]
    public async Task A_route_to_a_missing_agent_is_deferred_with_a_clear_reason()
    {
        var deferred = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await PluginServer.StartAsync(hooks: r =>
        {
            r.Register<RouteContext>("to-nowhere", (ctx, ct) =>
            {
                ctx.RouteTo(new Route(RouteKind.Agent, "nowhere"));
                return ValueTask.FromResult(HookResult.Accept());
            });
            r.Register<DeferredContext>("watch", (ctx, ct) =>
            {
                deferred.TrySetResult(ctx.Reason);
                return ValueTask.FromResult(HookResult.Continue);
            });
        });
        await SendAsync(server, "user@example.test", "lost agent");
        Assert.Equal("4.3.5 no delivery agent named 'nowhere' is registered", await deferred.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task A_throwing_agent_is_a_temporary_failure_and_a_failing_one_bounces()
    {
        var deferred = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var bounced = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await StartWithAgentAsync(r =>
        {
            r.Register<DeferredContext>("watch-deferred", (ctx, ct) =>
            {
                deferred.TrySetResult(ctx.Reason);
                return ValueTask.FromResult(HookResult.Continue);
            });
            r.Register<BouncedContext>("watch-bounced", (ctx, ct) =>
            {
                bounced.TrySetResult(ctx.Reason);
                return ValueTask.FromResult(HookResult.Continue);
            });
        });
        await SendAsync(server, "agentthrows@agent.test", "throws");
        Assert.Contains("probe agent failure", await deferred.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        await SendAsync(server, "agentfails@agent.test", "fails");
        Assert.Equal("agent memory: probe agent refuses", await bounced.Task.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task The_bounce_of_an_agents_failure_carries_its_status_code_remote_reply_and_host()
    {
        await using var server = await StartWithAgentAsync();
        await SendAsync(server, "agentcode@agent.test", "refused with a code", from: "alice@example.test");

        var dsn = await File.ReadAllTextAsync(Assert.Single(await server.WaitForMailAsync("alice")));

        // The status comes from the outcome's code, not from its text; the reply and host become Diagnostic-Code and Remote-MTA.
        Assert.Contains("Status: 5.7.1", dsn, StringComparison.Ordinal);
        Assert.Contains("Diagnostic-Code: smtp; 550 5.7.1 not wanted here", dsn, StringComparison.Ordinal);
        Assert.Contains("Remote-MTA: dns; probe.test", dsn, StringComparison.Ordinal);
        Assert.Contains("agent memory: probe agent refuses with a code", dsn, StringComparison.Ordinal);
    }
}
