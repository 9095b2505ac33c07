// Who gets a connection slot: the global and per-address limits, their exceptions, and Postfix-style stress mode.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Receiver;

/// <summary>What <see cref="ConnectionAdmission.TryAdmitAddress"/> decided.</summary>
internal enum AddressAdmission { Admitted, Exempt, TooMany }

/// <summary>
/// Counts busy connections (all clients) and connections per client address (an IPv4 address, or an IPv6 /64), decides
/// whether a new one is admitted, and keeps the server's stress state: at <c>Limits:Stress:EnterAt</c> of
/// <c>Limits:MaxConnections</c> busy the server is under stress until busy falls to <c>Limits:Stress:LeaveAt</c>; under
/// stress new reads, greetings and per-client limits use the <c>Limits:Stress</c> values. One per server, shared by
/// every session through <see cref="ReceiverContext"/>.
/// </summary>
internal sealed partial class ConnectionAdmission
{
    private static readonly TimeSpan RefusalSummaryInterval = TimeSpan.FromSeconds(10);

    private readonly LimitOptions _limits;
    private readonly NetworkList _exceptions;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly int _enterAt;
    private readonly int _leaveAt;
    private int _busy;
    private volatile bool _stressed;
    private long _refusedFull;
    private long _refusedPerAddress;
    private DateTimeOffset _lastSummary = DateTimeOffset.MinValue;

    public ConnectionAdmission(MtaOptions options, TimeProvider time, ILogger logger)
    {
        _limits = options.Limits;
        _time = time;
        _logger = logger;
        // As Postfix exempts mynetworks: the trusted networks and this host, unless the operator lists the exceptions.
        _exceptions = new NetworkList(options.Limits.ConnectionLimitExceptions ?? [.. options.Relay.TrustedNetworks, "127.0.0.0/8", "::1/128"]);
        var stress = options.Limits.Stress;
        _enterAt = stress.Enabled ? Math.Max(1, (int)Math.Ceiling(stress.EnterAt * _limits.MaxConnections)) : int.MaxValue;
        _leaveAt = (int)Math.Floor(stress.LeaveAt * _limits.MaxConnections);
    }

    /// <summary>True while the server is nearly full: shorter timeouts, lower per-client limits.</summary>
    public bool UnderStress => _stressed;

    /// <summary>Connections holding a slot now.</summary>
    public int Busy => Volatile.Read(ref _busy);

    /// <summary>Takes one of the <c>Limits:MaxConnections</c> slots; false when all are busy. Pair with <see cref="ReleaseSlot"/>.</summary>
    public bool TryTakeSlot()
    {
        lock (_lock)
        {
            if (_busy >= _limits.MaxConnections) return false;
            _busy++;
            if (!_stressed && _busy >= _enterAt)
            {
                _stressed = true;
                LogStressEntered(_busy, _limits.MaxConnections);
            }
            return true;
        }
    }

    public void ReleaseSlot()
    {
        lock (_lock)
        {
            _busy--;
            if (_stressed && _busy <= _leaveAt)
            {
                _stressed = false;
                LogStressLeft(_busy, _limits.MaxConnections);
            }
        }
    }

    /// <summary>Counts a connection from <paramref name="address"/> against the per-address limit (the stress value
    /// under stress). <paramref name="counted"/> is the key to hand to <see cref="ReleaseAddress"/> when admitted; null
    /// when exempt or refused.</summary>
    public AddressAdmission TryAdmitAddress(IPAddress address, out IPAddress? counted, out int fromAddress)
    {
        counted = null;
        fromAddress = 0;
        if (_exceptions.Contains(address)) return AddressAdmission.Exempt;
        var key = AddressKey(address);
        lock (_lock)
        {
            _perAddress.TryGetValue(key, out fromAddress);
            var limit = _stressed ? Math.Min(_limits.MaxConnectionsPerIp, _limits.Stress.MaxConnectionsPerIp) : _limits.MaxConnectionsPerIp;
            if (fromAddress >= limit) return AddressAdmission.TooMany;
            _perAddress[key] = ++fromAddress;
        }
        counted = key;
        return AddressAdmission.Admitted;
    }

    public void ReleaseAddress(IPAddress counted)
    {
        lock (_lock)
        {
            if (!_perAddress.TryGetValue(counted, out var n)) return;
            if (n <= 1) _perAddress.Remove(counted);
            else _perAddress[counted] = n - 1;
        }
    }

    /// <summary>Connections counted now for the address's key (tests and diagnostics).</summary>
    public int CountFor(IPAddress address)
    {
        lock (_lock) return _perAddress.GetValueOrDefault(AddressKey(address));
    }

    /// <summary>Logs a refusal: each at debug level, and a warning at most every 10 s with the counts since the last one,
    /// so that a flood of refused connections cannot flood the log (and stall the accept loop behind the console).</summary>
    public void NoteRefusal(IPEndPoint remote, bool serverFull)
    {
        if (serverFull) Interlocked.Increment(ref _refusedFull);
        else Interlocked.Increment(ref _refusedPerAddress);
        LogRefused(remote, serverFull ? "all connection slots are busy" : "too many connections from this address", Busy);
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (now - _lastSummary < RefusalSummaryInterval) return;
            _lastSummary = now;
        }
        LogRefusals(Interlocked.Exchange(ref _refusedFull, 0), Interlocked.Exchange(ref _refusedPerAddress, 0), Busy,
            _limits.MaxConnections, _stressed, remote);
    }

    /// <summary>The timeout of a read that would otherwise wait <paramref name="timeout"/>: shorter under stress.</summary>
    public TimeSpan ReadTimeout(TimeSpan timeout, bool awaitingCommand) =>
        !_stressed ? timeout : Min(timeout, awaitingCommand ? _limits.Stress.CommandTimeout : _limits.Stress.DataTimeout);

    /// <summary><c>Limits:CommandTimeout</c>, or its stress value: for writes and the TLS handshake.</summary>
    public TimeSpan CommandTimeout => ReadTimeout(_limits.CommandTimeout, awaitingCommand: true);

    /// <summary><c>Limits:GreetingDelay</c>, or its stress value when shorter.</summary>
    public TimeSpan GreetingDelay => _stressed ? Min(_limits.GreetingDelay, _limits.Stress.GreetingDelay) : _limits.GreetingDelay;

    /// <summary><c>Limits:MaxErrors</c>, or its stress value when lower.</summary>
    public int MaxErrors => _stressed ? Math.Min(_limits.MaxErrors, _limits.Stress.MaxErrors) : _limits.MaxErrors;

    /// <summary>What per-address limits count (<see cref="ClientAddress.LimitKey"/>).</summary>
    public static IPAddress AddressKey(IPAddress address) => ClientAddress.LimitKey(address);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    [LoggerMessage(EventId = LogEvents.Receiver.StressEntered, Level = LogLevel.Warning, Message = "stress: {Busy} of {Max} connection slots busy; shorter timeouts and lower per-client limits until the load drops")]
    private partial void LogStressEntered(int busy, int max);

    [LoggerMessage(EventId = LogEvents.Receiver.StressLeft, Level = LogLevel.Information, Message = "stress over: {Busy} of {Max} connection slots busy; usual timeouts and limits again")]
    private partial void LogStressLeft(int busy, int max);

    [LoggerMessage(EventId = LogEvents.Receiver.AdmissionRefused, Level = LogLevel.Debug, Message = "refused {Remote}: {Reason} (busy {Busy})")]
    private partial void LogRefused(IPEndPoint remote, string reason, int busy);

    [LoggerMessage(EventId = LogEvents.Receiver.AdmissionRefusals, Level = LogLevel.Warning, Message = "refused connections: {Full} with all slots busy, {PerAddress} over the per-address limit (busy {Busy} of {Max}, stress {Stress}; latest from {Remote})")]
    private partial void LogRefusals(long full, long perAddress, int busy, int max, bool stress, IPEndPoint remote);
}
