// Hold and release (as postsuper -h / -H): held recipients are never tried, never expire, survive a restart, and flush leaves them alone.
using Mta.Abstractions;
using Mta.Engine.Control;
using Mta.Engine.Tests.Spool;

namespace Mta.Engine.Tests.Queue;

public sealed class QueueHoldTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly byte[] Body = SpoolTestData.Message("hold me");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static QueueRecipientState[] States(QueueHarness q, string id) =>
        [.. q.Administration.Find(id)!.Recipients.Select(r => r.State)];

    [Fact]
    public async Task Held_recipients_are_not_retried_not_flushed_and_not_expired_until_released()
    {
        await using var q = new QueueHarness(_dir.Path);
        var tries = 0;
        q.Hooks.Register<DeliverContext>("count", (c, _) =>
        {
            // The remote recipients' attempts, not the DSN's delivery to the local sender.
            if (c.Recipient.Address.Domain == "remote.test") Interlocked.Increment(ref tries);
            return ValueTask.FromResult(HookResult.Continue);
        });
        await q.StartAsync();
        var id = (await q.SubmitAsync(Body, "far@remote.test", "other@remote.test")).QueueId;
        Assert.Equal(2, tries);
        Assert.Equal([QueueRecipientState.Deferred, QueueRecipientState.Deferred], States(q, id));

        Assert.Equal(2, await q.Administration.HoldAsync(id, Ct));
        Assert.Equal([QueueRecipientState.Held, QueueRecipientState.Held], States(q, id));
        Assert.All(q.Administration.Find(id)!.Recipients, r => Assert.Null(r.NextAttempt));
        Assert.Equal(0, q.Manager.ScheduledRetries);
        // Holding again holds nothing more.
        Assert.Equal(0, await q.Administration.HoldAsync(id, Ct));

        // A flush does not release it, and the retry time passing does not try it.
        Assert.Equal(0, q.Administration.Flush());
        await q.AdvanceAsync(TimeSpan.FromMinutes(30));
        Assert.Equal(2, tries);

        // Past its lifetime (5 hours): still held, no bounce while held.
        await q.AdvanceAsync(TimeSpan.FromHours(6));
        Assert.Equal(2, tries);
        Assert.Empty(q.Bounced);
        Assert.Equal(2, q.Manager.PendingRecipients);
        Assert.Equal([QueueRecipientState.Held, QueueRecipientState.Held], States(q, id));

        // Released: tried at once; past its lifetime, the deferral then bounces it (the lifetime counts while held).
        Assert.Equal(2, await q.Administration.ReleaseAsync(id, Ct));
        await q.IdleAsync();
        Assert.Equal(4, tries);
        Assert.Equal(2, q.Bounced.Count);
        Assert.All(q.Bounced, b => Assert.Contains("4.4.7", b.Reason, StringComparison.Ordinal));
        Assert.Equal(0, q.Manager.PendingRecipients);
        Assert.Equal(0, await q.Administration.ReleaseAsync(id, Ct));
    }

    [Fact]
    public async Task Released_recipients_are_delivered_now()
    {
        await using var q = new QueueHarness(_dir.Path);
        var defer = true;
        q.Hooks.Register<DeliverContext>("greylist", (_, _) =>
            ValueTask.FromResult(Volatile.Read(ref defer) ? HookResult.Defer("try later", 451, "4.7.1") : HookResult.Continue));
        await q.StartAsync();
        var id = (await q.SubmitAsync(Body, "alice@example.org")).QueueId;
        Assert.Equal(1, await q.Administration.HoldAsync(id, Ct));
        Volatile.Write(ref defer, false);

        Assert.Equal(1, await q.Administration.ReleaseAsync(id, Ct));
        await q.IdleAsync();
        Assert.Single(q.MailFiles("alice"));
        Assert.Null(q.Administration.Find(id));
    }

    [Fact]
    public async Task Fresh_mail_can_be_held_before_its_first_attempt_is_deferred_and_stays_held()
    {
        await using var q = new QueueHarness(_dir.Path);
        // The first attempt is stopped in the deliver hook until the hold is in place: a hold of mail in delivery.
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var proceed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        q.Hooks.Register<DeliverContext>("gate", async (_, ct) =>
        {
            entered.TrySetResult();
            await proceed.Task.WaitAsync(ct);
            return HookResult.Defer("busy", 451, "4.3.0");
        });
        await q.StartAsync();
        var envelope = SpoolTestData.EnvelopeFrom(QueueHarness.Sender, q.Time.GetUtcNow(), "alice@example.org");
        await q.Spool.CommitAsync(envelope, SpoolTestData.Seq(Body), Ct);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
        Assert.Equal([QueueRecipientState.Active], States(q, envelope.QueueId));

        Assert.Equal(1, await q.Administration.HoldAsync(envelope.QueueId, Ct));
        proceed.SetResult();
        await q.IdleAsync();

        // Its deferral did not schedule it: held, as the operator asked.
        Assert.Equal([QueueRecipientState.Held], States(q, envelope.QueueId));
        Assert.Equal(0, q.Manager.ScheduledRetries);
        Assert.Contains("busy", Assert.Single(q.Deferred).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hold_and_release_during_a_delivery_start_no_second_delivery()
    {
        await using var q = new QueueHarness(_dir.Path);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var proceed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tries = 0;
        q.Hooks.Register<DeliverContext>("gate", async (_, ct) =>
        {
            if (Interlocked.Increment(ref tries) == 1)
            {
                entered.TrySetResult();
                await proceed.Task.WaitAsync(ct);
            }
            return HookResult.Defer("busy", 451, "4.3.0");
        });
        await q.StartAsync();
        var envelope = SpoolTestData.EnvelopeFrom(QueueHarness.Sender, q.Time.GetUtcNow(), "alice@example.org");
        await q.Spool.CommitAsync(envelope, SpoolTestData.Seq(Body), Ct);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);

        Assert.Equal(1, await q.Administration.HoldAsync(envelope.QueueId, Ct));
        // The operator sees it held at once, though its delivery is still running.
        Assert.Equal([QueueRecipientState.Held], States(q, envelope.QueueId));
        Assert.Equal(1, await q.Administration.ReleaseAsync(envelope.QueueId, Ct));
        proceed.SetResult();
        await q.IdleAsync();

        // The release did not start a second delivery beside the running one; that one's deferral scheduled it as usual.
        Assert.Equal(1, tries);
        Assert.Equal([QueueRecipientState.Deferred], States(q, envelope.QueueId));
        Assert.Equal(1, q.Manager.ScheduledRetries);
        await q.AdvanceAsync(TimeSpan.FromMinutes(5));
        Assert.Equal(2, tries);
    }

    [Fact]
    public async Task A_hold_survives_a_restart_and_a_release_after_it_delivers()
    {
        string id;
        await using (var q = new QueueHarness(_dir.Path))
        {
            q.Hooks.Register<DeliverContext>("greylist", (_, _) => ValueTask.FromResult(HookResult.Defer("try later", 451, "4.7.1")));
            await q.StartAsync();
            id = (await q.SubmitAsync(Body, "alice@example.org", "bob@example.org")).QueueId;
            Assert.Equal(2, await q.Administration.HoldAsync(id, Ct));
        }

        await using (var q = new QueueHarness(_dir.Path))
        {
            var tries = 0;
            q.Hooks.Register<DeliverContext>("count", (_, _) =>
            {
                Interlocked.Increment(ref tries);
                return ValueTask.FromResult(HookResult.Continue);
            });
            await q.StartAsync();
            await q.AdvanceAsync(TimeSpan.FromHours(1));
            Assert.Equal(0, tries);
            var entry = q.Administration.Find(id)!;
            Assert.Equal([QueueRecipientState.Held, QueueRecipientState.Held], entry.Recipients.Select(r => r.State));
            // What it carried before the hold is kept: attempts and the last error.
            Assert.All(entry.Recipients, r => Assert.Equal(1, r.Attempts));
            Assert.All(entry.Recipients, r => Assert.Contains("try later", r.LastError, StringComparison.Ordinal));
            Assert.Equal(2, q.Manager.PendingRecipients);

            Assert.Equal(2, await q.Administration.ReleaseAsync(id, Ct));
            await q.IdleAsync();
            Assert.Single(q.MailFiles("alice"));
            Assert.Single(q.MailFiles("bob"));
        }
    }

    [Fact]
    public async Task A_release_survives_a_restart_as_due_now()
    {
        string id;
        await using (var q = new QueueHarness(_dir.Path))
        {
            q.Hooks.Register<DeliverContext>("greylist", (_, _) => ValueTask.FromResult(HookResult.Defer("try later", 451, "4.7.1")));
            await q.StartAsync();
            id = (await q.SubmitAsync(Body, "alice@example.org")).QueueId;
            await q.Administration.HoldAsync(id, Ct);
            Assert.Equal(1, await q.Administration.ReleaseAsync(id, Ct));
            await q.IdleAsync();
        }

        // Deferred again by the release's attempt, then restarted: it keeps that schedule, not held.
        await using (var q = new QueueHarness(_dir.Path))
        {
            await q.StartAsync();
            await q.IdleAsync();
            Assert.Equal([QueueRecipientState.Deferred], States(q, id));
            await q.AdvanceAsync(TimeSpan.FromMinutes(5));
            Assert.Single(q.MailFiles("alice"));
        }
    }

    [Fact]
    public async Task Delete_removes_a_held_message_and_unknown_ids_do_nothing()
    {
        await using var q = new QueueHarness(_dir.Path);
        await q.StartAsync();
        var id = (await q.SubmitAsync(Body, "far@remote.test")).QueueId;
        Assert.Equal(0, await q.Administration.HoldAsync("NOSUCHID", Ct));
        Assert.Equal(0, await q.Administration.ReleaseAsync("NOSUCHID", Ct));
        await q.Administration.HoldAsync(id, Ct);
        Assert.Equal(1, await q.Administration.DeleteAsync(id, Ct));
        Assert.Null(q.Administration.Find(id));
        Assert.Equal(0, q.Manager.PendingRecipients);
        Assert.Equal(0, q.Administration.Search(new QueueQuery(), 0, 10).Total);
    }
}
