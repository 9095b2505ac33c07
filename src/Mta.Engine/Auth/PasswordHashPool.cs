// A few dedicated threads for PBKDF2, with a bounded queue, so password hashing never takes the thread pool that serves sessions.
namespace Mta.Engine.Auth;

/// <summary>The answer of <see cref="PasswordHashPool.TryRun{T}"/>.</summary>
public enum PasswordHashAdmission
{
    /// <summary>Queued; the task completes when a worker has run it.</summary>
    Queued,
    /// <summary>Every worker is busy and the queue is full: answer 454 4.7.0 and let the client retry later.</summary>
    Full,
}

/// <summary>
/// Runs CPU-bound password checks on <c>Auth:HashWorkers</c> dedicated background threads (default: the number of
/// cores), never on the .NET thread pool: 200 parallel AUTH attempts then cost at most that many cores, and the
/// sessions' own continuations still find pool threads. At most <c>Auth:HashQueueLimit</c> checks wait for a worker;
/// past that <see cref="TryRun{T}"/> says <see cref="PasswordHashAdmission.Full"/> at once instead of queueing without
/// bound. A queued check whose token is cancelled is dropped without running. Threads start on first use, and on Linux
/// run at nice 10, below the threads that serve sessions.
/// </summary>
public sealed class PasswordHashPool : IDisposable
{
    private readonly int _workers;
    private readonly int _maxPending;
    private readonly Queue<WorkItem> _queue = new();
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _disposed = new();
    private Thread[]? _threads;
    private int _pending;
    private long _evaluations;

    /// <summary>Creates the pool; no thread runs until the first <see cref="TryRun{T}"/>.</summary>
    /// <param name="workers">Threads hashing at once, at least 1.</param>
    /// <param name="queueLimit">Checks that may wait for a free worker, at least 0.</param>
    public PasswordHashPool(int workers, int queueLimit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(queueLimit, 0);
        _workers = workers;
        _maxPending = workers + queueLimit;
    }

    /// <summary>Worker threads.</summary>
    public int Workers => _workers;

    /// <summary>Checks running or waiting now.</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Checks a worker has run to the end since start (a test and metrics counter).</summary>
    public long Evaluations => Interlocked.Read(ref _evaluations);

    /// <summary>Queues <paramref name="work"/> for a worker thread, or refuses at once when the pool is full.</summary>
    /// <param name="work">CPU-bound and short (one PBKDF2): it runs on a worker thread to its end.</param>
    /// <param name="cancellationToken">Cancels the check while it waits; one already running finishes, its result unseen.</param>
    /// <param name="result">Completes with the work's result (or its exception, or cancelled); null when refused.</param>
    public PasswordHashAdmission TryRun<T>(Func<T> work, CancellationToken cancellationToken, out Task<T>? result)
    {
        ArgumentNullException.ThrowIfNull(work);
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        // Reserved before queueing, so that no number of racing callers can push the count past the bound.
        if (Interlocked.Increment(ref _pending) > _maxPending)
        {
            Interlocked.Decrement(ref _pending);
            result = null;
            return PasswordHashAdmission.Full;
        }
        var item = new WorkItem<T>(this, work);
        if (cancellationToken.CanBeCanceled)
            item.Registration = cancellationToken.UnsafeRegister(static (state, token) => ((WorkItem)state!).Cancel(token), item);
        EnsureStarted();
        lock (_lock) _queue.Enqueue(item);
        _available.Release();
        result = item.Task;
        return PasswordHashAdmission.Queued;
    }

    /// <summary>Stops the workers; checks still queued are cancelled.</summary>
    public void Dispose()
    {
        if (_disposed.IsCancellationRequested) return;
        _disposed.Cancel();
        lock (_lock)
        {
            while (_queue.TryDequeue(out var item)) item.Cancel(_disposed.Token);
        }
    }

    private void EnsureStarted()
    {
        if (Volatile.Read(ref _threads) is not null) return;
        lock (_lock)
        {
            if (_threads is not null) return;
            var threads = new Thread[_workers];
            for (var i = 0; i < threads.Length; i++)
            {
                // Background: a pool nobody disposed (the `mta user` CLI) never keeps the process alive.
                threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"mta-hash-{i + 1}" };
                threads[i].Start();
            }
            _threads = threads;
        }
    }

    private void WorkerLoop()
    {
        LowerPriority();
        var stop = _disposed.Token;
        while (true)
        {
            try
            {
                _available.Wait(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            WorkItem? item;
            lock (_lock)
            {
                if (!_queue.TryDequeue(out item)) continue;
            }
            if (item.TryStart()) item.Run();
        }
    }

    private void Release() => Interlocked.Decrement(ref _pending);

    // Linux schedules threads as tasks with a nice value each: at nice 10 a hashing thread gets about a tenth of a core
    // that a session thread also wants, so a flood of AUTH attempts slows AUTH, not mail. .NET ignores Thread.Priority
    // on Linux, hence setpriority on this thread's own id (raising one's own nice value needs no privilege).
    private static void LowerPriority()
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            _ = setpriority(PrioProcess, gettid(), HashingNice);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // An old C library without gettid: the threads run at normal priority, still bounded in number.
        }
    }

    private const int PrioProcess = 0, HashingNice = 10;

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int gettid();

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern int setpriority(int which, int who, int priority);

    private abstract class WorkItem(PasswordHashPool pool)
    {
        private const int Waiting = 0, Running = 1, Done = 2;
        private int _state;

        public CancellationTokenRegistration Registration { get; set; }

        // True when this worker now owns the item; false when it was cancelled while it waited.
        public bool TryStart() => Interlocked.CompareExchange(ref _state, Running, Waiting) == Waiting;

        public void Cancel(CancellationToken token)
        {
            if (Interlocked.CompareExchange(ref _state, Done, Waiting) != Waiting) return;
            // The slot is given back at once: a client that went away frees room for the next one.
            pool.Release();
            SetCanceled(token);
        }

        public void Run()
        {
            Registration.Dispose();
            Execute();
            Volatile.Write(ref _state, Done);
            // Counted and released before the caller hears: whoever awaits the result sees the slot free again.
            Interlocked.Increment(ref pool._evaluations);
            pool.Release();
            Complete();
        }

        // Runs the work and keeps its outcome; never throws.
        protected abstract void Execute();

        protected abstract void Complete();

        protected abstract void SetCanceled(CancellationToken token);
    }

    private sealed class WorkItem<T>(PasswordHashPool pool, Func<T> work) : WorkItem(pool)
    {
        // Continuations run on the thread pool, never on a hashing thread.
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _completion.Task;

        private T? _result;
        private Exception? _exception;

        protected override void Execute()
        {
            try
            {
                _result = work();
            }
            catch (Exception ex)
            {
                _exception = ex;
            }
        }

        protected override void Complete()
        {
            if (_exception is not null) _completion.TrySetException(_exception);
            else _completion.TrySetResult(_result!);
        }

        protected override void SetCanceled(CancellationToken token) => _completion.TrySetCanceled(token);
    }
}
