// The password-hashing threads: work runs off the thread pool, the queue is bounded, cancelled work never runs.
using Mta.Engine.Auth;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Auth;

public sealed class PasswordHashPoolTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Work_runs_on_the_pools_own_threads_and_is_counted()
    {
        using var pool = new PasswordHashPool(workers: 2, queueLimit: 4);
        Assert.Equal(PasswordHashAdmission.Queued, pool.TryRun(() => (Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name), Ct, out var task));
        var (onThreadPool, name) = await task!;
        Assert.False(onThreadPool);
        Assert.StartsWith("mta-hash-", name);
        Assert.Equal(1, pool.Evaluations);
        Assert.Equal(0, pool.Pending);
    }

    [Fact]
    public async Task On_Linux_the_hashing_threads_run_below_the_session_threads()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "per-thread nice values are Linux");
        using var pool = new PasswordHashPool(workers: 1, queueLimit: 0);
        pool.TryRun(() => File.ReadAllText("/proc/thread-self/stat"), Ct, out var stat);
        // Fields after the command name's closing parenthesis: state is field 3, nice field 19.
        var fields = (await stat!)[((await stat!).LastIndexOf(')') + 2)..].Split(' ');
        Assert.Equal("10", fields[19 - 3]);
    }

    [Fact]
    public async Task Past_the_workers_and_the_queue_limit_work_is_refused_at_once()
    {
        using var pool = new PasswordHashPool(workers: 2, queueLimit: 3);
        using var release = new ManualResetEventSlim();
        var admitted = new List<Task<int>>();
        var refused = 0;
        for (var i = 0; i < 20; i++)
        {
            var n = i;
            if (pool.TryRun(() => { release.Wait(TimeSpan.FromSeconds(20)); return n; }, Ct, out var task) == PasswordHashAdmission.Queued) admitted.Add(task!);
            else refused++;
        }
        Assert.Equal(5, admitted.Count);
        Assert.Equal(15, refused);
        Assert.Equal(5, pool.Pending);

        release.Set();
        Assert.Equal([0, 1, 2, 3, 4], (await Task.WhenAll(admitted)).Order());
        Assert.Equal(5, pool.Evaluations);
        Assert.Equal(0, pool.Pending);
        Assert.Equal(PasswordHashAdmission.Queued, pool.TryRun(() => 7, Ct, out var again));
        Assert.Equal(7, await again!);
    }

    [Fact]
    public async Task Work_cancelled_while_it_waits_never_runs_and_frees_its_place()
    {
        using var pool = new PasswordHashPool(workers: 1, queueLimit: 1);
        using var release = new ManualResetEventSlim();
        pool.TryRun(() => release.Wait(TimeSpan.FromSeconds(20)), Ct, out var busy);
        using var cancel = new CancellationTokenSource();
        var ran = false;
        Assert.Equal(PasswordHashAdmission.Queued, pool.TryRun(() => ran = true, cancel.Token, out var waiting));
        Assert.Equal(PasswordHashAdmission.Full, pool.TryRun(() => true, Ct, out _));

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting!);
        // Its place is free at once, before the busy worker gets to the queue.
        Assert.Equal(PasswordHashAdmission.Queued, pool.TryRun(() => true, Ct, out var next));
        release.Set();
        Assert.True(await busy!);
        Assert.True(await next!);
        Assert.False(ran);
        Assert.Equal(2, pool.Evaluations);
    }

    [Fact]
    public async Task An_exception_in_the_work_reaches_the_caller_and_the_worker_goes_on()
    {
        using var pool = new PasswordHashPool(workers: 1, queueLimit: 0);
        pool.TryRun<int>(() => throw new InvalidOperationException("boom"), Ct, out var failing);
        await Assert.ThrowsAsync<InvalidOperationException>(() => failing!);
        pool.TryRun(() => 1, Ct, out var fine);
        Assert.Equal(1, await fine!);
    }

    [Fact]
    public async Task The_user_store_answers_busy_when_the_pool_is_full()
    {
        using var directory = new TestDirectory();
        var options = new MtaOptions { DataDirectory = directory.Path };
        options.Auth.HashIterations = 100_000;
        using var pool = new PasswordHashPool(workers: 1, queueLimit: 0);
        var store = new UserStore(options, pool: pool);
        store.Add("alice", "secret", []);
        using var release = new ManualResetEventSlim();
        pool.TryRun(() => release.Wait(TimeSpan.FromSeconds(20)), Ct, out var busy);
        Assert.Equal(PasswordCheck.Busy, await store.CheckAsync("alice", "secret", Ct));
        release.Set();
        await busy!;
        Assert.Equal(PasswordCheck.Match, await store.CheckAsync("alice", "secret", Ct));
        Assert.Equal(PasswordCheck.Mismatch, await store.CheckAsync("alice", "wrong", Ct));
        Assert.Equal(PasswordCheck.Mismatch, await store.CheckAsync("mallory", "secret", Ct));
        Assert.Equal(4, store.Evaluations);
    }
}
