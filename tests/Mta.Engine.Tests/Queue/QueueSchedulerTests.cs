// The queue manager: built-in routing to Maildirs, route and deliver hooks, retries on a fake clock, expiry, restart.
using Mta.Abstractions;
using Mta.Engine.Queue;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Queue;

public sealed class QueueSchedulerTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] Body = SpoolTestData.Message("queued");

    private static byte[] DeliveredBody(string file)
    {
        var bytes = File.ReadAllBytes(file);
        // Skip the two fields local delivery adds.
        var text = System.Text.Encoding.ASCII.GetString(bytes);
        var second = text.IndexOf("\r\n", text.IndexOf("\r\n", StringComparison.Ordinal) + 2, StringComparison.Ordinal) + 2;
        Assert.StartsWith("Return-Path: <sender@example.org>\r\nDelivered-To: ", text);
        return bytes[second..];
    }

    [Fact]
    public async Task Local_recipients_are_delivered_to_their_maildir_and_the_segment_journaled()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        await q.SubmitAsync(Body, "Alice@Example.ORG", "bob@example.org");

        Assert.Equal(Body, DeliveredBody(Assert.Single(q.MailFiles("alice"))));
        Assert.Single(q.MailFiles("bob"));
        Assert.Equal(0, q.Manager.PendingRecipients);
        Assert.Equal(2, q.Delivered.Count);
        Assert.All(q.Delivered, d => Assert.Equal(RouteKind.Mailbox, d.Route.Kind));
        Assert.Equal(2, q.Spool.Statistics.JournalEntries);
    }

    [Theory]
    [InlineData("postmaster")]
    [InlineData("PostMaster")]
    [InlineData("POSTMASTER@example.org")]
    public async Task Postmaster_goes_to_the_configured_mailbox(string recipient)
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        await q.SubmitAsync(Body, recipient);
        Assert.Single(q.MailFiles("root"));
        Assert.Equal(new Mta.Abstractions.Route(RouteKind.Mailbox, "root"), Assert.Single(q.Delivered).Route);
    }

    [Fact]
    public async Task Route_hook_chooses_the_route_or_rejects()
    {
        await using var q = new QueueHarness(_dir.Path);
        q.Hooks.Register<RouteContext>("aliases", (c, _) =>
        {
            switch (c.Recipient.Address.LocalPart)
            {
                case "sales":
                    c.RouteTo(new Mta.Abstractions.Route(RouteKind.Mailbox, "carol"));
                    return ValueTask.FromResult(HookResult.Accept());
                case "gone":
                    return ValueTask.FromResult(HookResult.Reject("user has left", 550, "5.1.6"));
                case "spam":
                    c.RouteTo(new Mta.Abstractions.Route(RouteKind.Discard, "spam trap"));
                    return ValueTask.FromResult(HookResult.Accept());
                default:
                    return ValueTask.FromResult(HookResult.Continue);
            }
        });
        await q.StartAsync();
        await q.SubmitAsync(Body, "sales@example.org", "gone@example.org", "spam@example.org", "dave@example.org");

        Assert.Single(q.MailFiles("carol"));
        Assert.Single(q.MailFiles("dave"));
        Assert.Empty(q.MailFiles("sales"));
        Assert.Empty(q.MailFiles("spam"));
        var bounced = Assert.Single(q.Bounced);
        Assert.Equal("gone", bounced.Recipient.Address.LocalPart);
        Assert.Contains("user has left", bounced.Reason);
        Assert.Equal(3, q.DeliveredMail.Length);
        // The failure was reported to the sender.
        Assert.Single(q.MailFiles("sender"));
        Assert.Equal(0, q.Manager.PendingRecipients);
    }

    [Fact]
    public async Task Route_hook_sees_message_content_as_mime()
    {
        await using var q = new QueueHarness(_dir.Path);
        string? subject = null;
        q.Hooks.Register<RouteContext>("inspect", async (c, ct) =>
        {
            subject = (await c.Message.Content.GetMimeMessageAsync(ct)).Subject;
            Assert.Same(await c.Message.Content.GetMimeMessageAsync(ct), await c.Message.Content.GetMimeMessageAsync(ct));
            return HookResult.Continue;
        });
        await q.StartAsync();
        await q.SubmitAsync(Body, "alice@example.org");
        Assert.Equal("queued", subject);
    }

    [Fact]
    public async Task Deliver_hook_that_throws_is_a_temporary_failure_and_is_retried()
    {
        await using var q = new QueueHarness(_dir.Path);
        var calls = 0;
        q.Hooks.Register<DeliverContext>("flaky", (_, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1) throw new InvalidOperationException("boom");
            return ValueTask.FromResult(HookResult.Continue);
        });
        await q.StartAsync();
        await q.SubmitAsync(Body, "alice@example.org");

        Assert.Empty(q.MailFiles("alice"));
        var deferred = Assert.Single(q.Deferred);
        Assert.Equal(q.Time.GetUtcNow() + TimeSpan.FromMinutes(5), deferred.NextAttempt);
        Assert.Equal(1, q.Manager.ScheduledRetries);
        Assert.Equal(1, q.Manager.PendingRecipients);

        await q.AdvanceAsync(TimeSpan.FromMinutes(5));
        Assert.Equal(2, calls);
        Assert.Single(q.MailFiles("alice"));
        Assert.Equal(0, q.Manager.PendingRecipients);
    }

    [Fact]
    public async Task Deferred_recipient_is_retried_at_the_scheduled_time_with_age_based_backoff()
    {
        await using var q = new QueueHarness(_dir.Path);
        var calls = 0;
        q.Hooks.Register<DeliverContext>("greylisted", (_, _) =>
            ValueTask.FromResult(Interlocked.Increment(ref calls) <= 2 ? HookResult.Defer("try later", 451, "4.7.1") : HookResult.Continue));
        await q.StartAsync();
        await q.SubmitAsync(Body, "alice@example.org");
        Assert.Equal(1, calls);

        await q.AdvanceAsync(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Equal(1, calls);
        await q.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(2, calls); // deferred again at an age of 5 minutes: the next wait is 5 minutes

        await q.AdvanceAsync(TimeSpan.FromMinutes(5) - TimeSpan.FromSeconds(1));
        Assert.Equal(2, calls);
        Assert.Empty(q.MailFiles("alice"));
        await q.AdvanceAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(3, calls);
        Assert.Single(q.MailFiles("alice"));
        Assert.All(q.Deferred, d => Assert.Contains("try later", d.Reason));
    }

    [Fact]
    public async Task Deliver_hook_accept_and_reject_are_final()
    {
        await using var q = new QueueHarness(_dir.Path);
        q.Hooks.Register<DeliverContext>("decide", (c, _) => ValueTask.FromResult(
            c.Recipient.Address.LocalPart == "taken" ? HookResult.Accept("stored elsewhere") : HookResult.Reject("no such user", 550, "5.1.1")));
        await q.StartAsync();
        await q.SubmitAsync(Body, "taken@example.org", "nobody@example.org");
        Assert.Empty(q.MailFiles("taken"));
        Assert.Equal("taken", Assert.Single(q.DeliveredMail).Recipient.Address.LocalPart);
        // This hook rejects everything but "taken": the DSN to the sender is rejected too, its postmaster copy
        // (a double bounce) as well, and there it stops.
        Assert.Equal(["nobody@example.org", "postmaster@example.org", "sender@example.org"],
            q.Bounced.Select(b => b.Recipient.Address.ToString()).Order());
        Assert.Equal(0, q.Manager.PendingRecipients);
    }

    [Fact]
    public async Task Unreachable_remote_and_terminal_routes_are_deferred_until_expiry_then_bounced_once_to_the_postmaster()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o => o.Queue.MaxLifetime = TimeSpan.FromHours(2));
        q.Hooks.Register<RouteContext>("terminal", (c, _) =>
        {
            if (c.Recipient.Address.LocalPart != "tty") return ValueTask.FromResult(HookResult.Continue);
            c.RouteTo(new Mta.Abstractions.Route(RouteKind.Terminal, "tty"));
            return ValueTask.FromResult(HookResult.Accept());
        });
        await q.StartAsync();
        var start = q.Time.GetUtcNow();
        // A bounce from elsewhere (null reverse-path): its failure report goes to the postmaster, here "root".
        await q.SubmitFromAsync(SmtpAddress.Null, Body, "someone@remote.test", "tty@example.org");
        Assert.Contains(q.Deferred, d => d.Reason.StartsWith("4.4.3 ", StringComparison.Ordinal));
        Assert.Contains(q.Deferred, d => d.Reason.Contains(Mta.Engine.Delivery.TerminalAgent.NotAvailable, StringComparison.Ordinal));

        // Tries at 0, 5, 10, 20, 40 and 80 minutes (the wait is the message's age), then at the 2-hour lifetime.
        for (var i = 0; i < 200 && q.Manager.ScheduledRetries > 0; i++)
            await q.AdvanceAsync(TimeSpan.FromMinutes(1));

        Assert.Equal(2, q.Bounced.Count);
        Assert.All(q.Bounced, b => Assert.Contains("expired", b.Reason));
        Assert.Equal(
            new[] { 5, 10, 20, 40, 80, 120 }.Select(m => start + TimeSpan.FromMinutes(m)),
            q.Deferred.Where(d => d.Recipient.Address.LocalPart == "tty").Select(d => d.NextAttempt).Order());
        Assert.Single(q.MailFiles("root"));
        Assert.Equal(0, q.Manager.PendingRecipients);
        Assert.Equal(0, q.Manager.ScheduledRetries);
    }

    [Fact]
    public async Task Restart_resumes_pending_recipients_and_does_not_redeliver_done_ones()
    {
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            await q.SubmitAsync(Body, "alice@example.org", "far@remote.test");
            Assert.Single(q.MailFiles("alice"));
            Assert.Equal(1, q.Manager.PendingRecipients);
        }

        await using (var q = new QueueHarness(_dir.Path))
        {
            var routed = new List<string>();
            q.Hooks.Register<RouteContext>("watch", (c, _) =>
            {
                lock (routed) routed.Add(c.Recipient.Address.ToString());
                return ValueTask.FromResult(HookResult.Continue);
            });
            await q.StartAsync();
            await q.IdleAsync();
            // The deferred recipient keeps its scheduled time across the restart: nothing is tried at start.
            Assert.Empty(routed);
            Assert.Single(q.MailFiles("alice"));
            Assert.Equal(1, q.Manager.PendingRecipients);
            Assert.Equal(1, q.Manager.ScheduledRetries);
            await q.AdvanceAsync(TimeSpan.FromMinutes(5));
            Assert.Equal(["far@remote.test"], routed);
        }
    }

    [Fact]
    public async Task Messages_committed_before_start_are_delivered_once_started()
    {
        await using var q = new QueueHarness(_dir.Path);
        var envelope = SpoolTestData.Envelope(q.Time.GetUtcNow(), "early@example.org");
        await q.Spool.CommitAsync(envelope, SpoolTestData.Seq(Body), TestContext.Current.CancellationToken);
        await q.StartAsync();
        await q.IdleAsync();
        Assert.Single(q.MailFiles("early"));
    }

    [Fact]
    public async Task Many_messages_under_concurrency_are_each_delivered_once()
    {
        await using var q = new QueueHarness(_dir.Path, configure: o => o.Queue.DeliveryConcurrency = 8);
        await q.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i =>
            q.Spool.CommitAsync(SpoolTestData.Envelope(q.Time.GetUtcNow(), $"u{i % 5}@example.org"), SpoolTestData.Seq(Body),
                TestContext.Current.CancellationToken).AsTask()));
        await q.IdleAsync();
        Assert.Equal(100, Enumerable.Range(0, 5).Sum(u => q.MailFiles("u" + u).Length));
        Assert.Equal(0, q.Manager.PendingRecipients);
        Assert.Equal(100, q.Spool.Statistics.JournalEntries);
    }
}
