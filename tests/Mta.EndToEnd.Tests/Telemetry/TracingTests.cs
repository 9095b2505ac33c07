// Spans over real SMTP: one per session with an event per message, one per delivery attempt linked back to the session.
using System.Diagnostics;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Telemetry;

namespace Mta.EndToEnd.Tests;

public sealed class TracingTests
{
    private static object? Tag(Activity span, string key) => span.TagObjects.FirstOrDefault(t => t.Key == key).Value;

    private static bool IsSessionOf(Activity span, MtaTestServer server) =>
        span.Source.Name == MtaTelemetry.ReceiverSourceName && Equals(Tag(span, "server.port"), server.Port);

    [Fact]
    public async Task A_session_span_carries_an_event_per_message_and_each_delivery_span_links_back_to_it()
    {
        using var spans = new SpanRecorder();
        await using var server = await MtaTestServer.StartAsync();
        string[] ids;
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            var first = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["bob@example.test"], "Subject: 1\r\n\r\none\r\n"), 250);
            var second = SmtpAssert.Reply(await SmtpAssert.TransactionAsync(c, "alice@example.test", ["carol@example.test"], "Subject: 2\r\n\r\ntwo\r\n"), 250);
            ids = [SmtpAssert.QueueIdOf(first.Lines[^1]), SmtpAssert.QueueIdOf(second.Lines[^1])];
            SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        }

        var session = await spans.WaitForAsync(s => IsSessionOf(s, server), "the session span");
        Assert.Equal(ActivityKind.Server, session.Kind);
        Assert.Equal("127.0.0.1", Tag(session, "client.address"));
        Assert.Equal("smtp", Tag(session, "mta.listener"));
        Assert.Equal("quit", Tag(session, "mta.close_reason"));
        Assert.NotEqual(ActivityStatusCode.Error, session.Status);
        var events = session.Events.Where(e => e.Name == "message").ToList();
        Assert.Equal(ids, events.Select(e => e.Tags.First(t => t.Key == MtaTelemetry.Tags.QueueId).Value as string));
        Assert.All(events, e => Assert.Equal("accepted", e.Tags.First(t => t.Key == "mta.result").Value));

        foreach (var id in ids)
        {
            var delivery = await spans.WaitForAsync(s => s.Source.Name == MtaTelemetry.DeliverySourceName
                && Equals(Tag(s, MtaTelemetry.Tags.QueueId), id), "the delivery span of " + id);
            Assert.Equal(ActivityKind.Client, delivery.Kind);
            Assert.Equal("mailbox", Tag(delivery, "mta.route_kind"));
            Assert.Equal("delivered", Tag(delivery, "mta.outcome"));
            Assert.NotNull(Tag(delivery, "mta.destination"));
            Assert.Equal(ActivityStatusCode.Ok, delivery.Status);
            // A link, not a parent: the delivery is a trace of its own that points at the session that received the message.
            var link = Assert.Single(delivery.Links);
            Assert.Equal(session.TraceId, link.Context.TraceId);
            Assert.Equal(session.SpanId, link.Context.SpanId);
            Assert.NotEqual(session.TraceId, delivery.TraceId);
        }
        // Delivered messages leave nothing behind for links.
        await MetricRecorder.WaitUntilAsync(() => server.Services.GetService(typeof(ReceivedSpans)) is ReceivedSpans { Count: 0 }, "the links dropped");
    }

    [Fact]
    public async Task A_rejected_message_is_an_event_and_a_timed_out_session_ends_with_an_error_status()
    {
        using var spans = new SpanRecorder();
        await using var server = await MtaTestServer.StartAsync(o => o.Limits.CommandTimeout = TimeSpan.FromSeconds(1));
        await using (var c = await SmtpAssert.ConnectAsync(server))
        {
            await SmtpAssert.EhloAsync(c);
            SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<alice@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
            SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
            // A bare LF in the body: refused after the dot (RFC 5321 2.3.8).
            await c.SendAsync("Subject: bad\r\n\r\nbare\nline\r\n.\r\n");
            SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.6.0");
            // Then silence until the command timeout closes the session.
            Assert.Equal(421, (await c.ReadReplyAsync()).Code);
        }

        var session = await spans.WaitForAsync(s => IsSessionOf(s, server), "the session span");
        Assert.Equal(ActivityStatusCode.Error, session.Status);
        Assert.Equal("timeout", session.StatusDescription);
        var message = Assert.Single(session.Events, e => e.Name == "message");
        Assert.Equal("rejected", message.Tags.First(t => t.Key == "mta.result").Value);
        Assert.Equal(554, message.Tags.First(t => t.Key == "smtp.reply_code").Value);
    }
}
