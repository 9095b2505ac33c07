// Idle SMTP connections kept for a moment so the next message to the same destination skips connect, EHLO and TLS.
using System.Collections.Concurrent;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound.Client;

namespace Mta.Engine.Outbound;

/// <summary>
/// Keeps an idle connection per destination for <see cref="DestinationResilienceOptions.ConnectionCacheTime"/>
/// (Postfix's smtp_connection_cache_time_limit), then closes it with QUIT. A connection that failed, got 421 or
/// reached <see cref="DestinationResilienceOptions.MaxTransactionsPerConnection"/> is never cached.
/// </summary>
internal sealed class ConnectionCache : IAsyncDisposable
{
    private readonly DestinationResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, ConcurrentStack<Entry>> _idle = new(StringComparer.OrdinalIgnoreCase);
    private bool _disposed;

    public ConnectionCache(DestinationResilienceOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>Idle connections held now, all destinations.</summary>
    public int Count => _idle.Values.Sum(s => s.Count);

    /// <summary>The most recently used idle connection to the destination, or null.</summary>
    public SmtpClientConnection? TryTake(string destination)
    {
        if (!_idle.TryGetValue(destination, out var stack)) return null;
        while (stack.TryPop(out var entry))
        {
            if (entry.TryClaim()) return entry.Connection;
        }
        return null;
    }

    /// <summary>Keeps the connection for the next message to the destination, or closes it.</summary>
    public void Return(string destination, SmtpClientConnection connection)
    {
        if (_disposed || _options.ConnectionCacheTime <= TimeSpan.Zero || !connection.IsUsable
            || connection.TransactionCount >= _options.MaxTransactionsPerConnection)
        {
            CloseInBackground(connection);
            return;
        }
        var entry = new Entry(connection);
        _idle.GetOrAdd(destination, _ => new ConcurrentStack<Entry>()).Push(entry);
        entry.Timer = _time.CreateTimer(static s =>
        {
            var e = (Entry)s!;
            // Whoever claims first owns the connection: a taker uses it, the timer closes it.
            if (e.TryClaim()) CloseInBackground(e.Connection);
        }, entry, _options.ConnectionCacheTime, Timeout.InfiniteTimeSpan);
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        var closing = new List<Task>();
        foreach (var stack in _idle.Values)
            while (stack.TryPop(out var entry))
                if (entry.TryClaim()) closing.Add(entry.Connection.DisposeAsync().AsTask());
        await Task.WhenAll(closing).ConfigureAwait(false);
    }

    private static void CloseInBackground(SmtpClientConnection connection) =>
        _ = Task.Run(async () => await connection.DisposeAsync().ConfigureAwait(false));

    private sealed class Entry(SmtpClientConnection connection)
    {
        private int _claimed;
        public SmtpClientConnection Connection { get; } = connection;
        public ITimer? Timer { get; set; }

        public bool TryClaim()
        {
            if (Interlocked.Exchange(ref _claimed, 1) != 0) return false;
            Timer?.Dispose();
            return true;
        }
    }
}
