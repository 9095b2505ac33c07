// Idle SMTP connections kept for a moment so the next message to the same destination skips connect, EHLO and TLS.
using Mta.Engine.Configuration;
using Mta.Engine.Outbound.Client;

namespace Mta.Engine.Outbound;

/// <summary>
/// Keeps idle connections per destination for <see cref="DestinationResilienceOptions.ConnectionCacheTime"/>
/// (Postfix's smtp_connection_cache_time_limit), then closes them with QUIT. A connection that failed, got 421 or
/// reached <see cref="DestinationResilienceOptions.MaxTransactionsPerConnection"/> is never cached. An expired entry
/// is removed with its connection, and a destination without idle connections leaves nothing behind.
/// </summary>
internal sealed class ConnectionCache : IAsyncDisposable
{
    private readonly DestinationResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Entry>> _idle = new(StringComparer.OrdinalIgnoreCase);
    private bool _disposed;

    public ConnectionCache(DestinationResilienceOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>Idle connections held now, all destinations.</summary>
    public int Count
    {
        get { lock (_gate) return _idle.Values.Sum(l => l.Count); }
    }

    /// <summary>The most recently used idle connection to the destination, or null.</summary>
    public SmtpClientConnection? TryTake(string destination)
    {
        Entry? entry;
        lock (_gate)
        {
            if (!_idle.TryGetValue(destination, out var list) || list.Count == 0) return null;
            entry = list[^1];
            Remove(destination, list, entry);
        }
        entry.Timer?.Dispose();
        return entry.Connection;
    }

    /// <summary>Keeps the connection for the next message to the destination, or closes it.</summary>
    public void Return(string destination, SmtpClientConnection connection)
    {
        if (_options.ConnectionCacheTime <= TimeSpan.Zero || !connection.IsUsable
            || connection.TransactionCount >= _options.MaxTransactionsPerConnection)
        {
            CloseInBackground(connection);
            return;
        }
        var entry = new Entry(this, destination, connection);
        lock (_gate)
        {
            if (_disposed)
            {
                CloseInBackground(connection);
                return;
            }
            if (!_idle.TryGetValue(destination, out var list)) _idle[destination] = list = [];
            list.Add(entry);
            // Created under the lock, so a taker never sees an entry whose timer is still to come.
            entry.Timer = _time.CreateTimer(static s => ((Entry)s!).Owner.Expire((Entry)s!), entry, _options.ConnectionCacheTime, Timeout.InfiniteTimeSpan);
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<Entry> all;
        lock (_gate)
        {
            _disposed = true;
            all = _idle.Values.SelectMany(l => l).ToList();
            _idle.Clear();
        }
        foreach (var entry in all) entry.Timer?.Dispose();
        await Task.WhenAll(all.Select(e => e.Connection.DisposeAsync().AsTask())).ConfigureAwait(false);
    }

    private void Expire(Entry entry)
    {
        lock (_gate)
        {
            // Taken meanwhile: the taker owns it now.
            if (!_idle.TryGetValue(entry.Destination, out var list) || !list.Contains(entry)) return;
            Remove(entry.Destination, list, entry);
        }
        entry.Timer?.Dispose();
        CloseInBackground(entry.Connection);
    }

    // Called under _gate.
    private void Remove(string destination, List<Entry> list, Entry entry)
    {
        list.Remove(entry);
        if (list.Count == 0) _idle.Remove(destination);
    }

    private static void CloseInBackground(SmtpClientConnection connection) =>
        _ = Task.Run(async () => await connection.DisposeAsync().ConfigureAwait(false));

    private sealed class Entry(ConnectionCache owner, string destination, SmtpClientConnection connection)
    {
        public ConnectionCache Owner { get; } = owner;
        public string Destination { get; } = destination;
        public SmtpClientConnection Connection { get; } = connection;
        public ITimer? Timer { get; set; }
    }
}
