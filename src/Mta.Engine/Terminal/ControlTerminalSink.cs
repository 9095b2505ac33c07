// The `mta terminal` sink: users attached over the control socket, each delivered message pushed down their connections.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Control;

namespace Mta.Engine.Terminal;

/// <summary>
/// A user is active while at least one <c>mta terminal</c> client is attached for them (<see cref="TerminalAttachCommand"/>).
/// Delivery writes the message to every attachment at once, each write bounded by <see cref="SendTimeout"/>: a client
/// that stopped reading is dropped (its connection closed), so one stuck window never holds up delivery.
/// </summary>
public sealed partial class ControlTerminalSink : ITerminalSink
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Attachment>> _byUser = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly ILogger<ControlTerminalSink> _logger;

    /// <summary>Creates the sink.</summary>
    public ControlTerminalSink(TimeProvider time, ILogger<ControlTerminalSink> logger)
    {
        _time = time;
        _logger = logger;
    }

    /// <summary>The sink's name in logs: <c>control</c>.</summary>
    public string Name => "control";

    /// <summary>How long one message may wait for one client to take it before that client is dropped. Defaults to 2 s,
    /// below the registry's <c>Terminal:SinkTimeout</c>, so a slow client costs its own attachment, not the delivery.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Attachments for <paramref name="user"/> now.</summary>
    public int AttachmentCount(string user)
    {
        lock (_gate) return _byUser.TryGetValue(Key(user), out var list) ? list.Count : 0;
    }

    /// <inheritdoc />
    public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken)
    {
        lock (_gate) return ValueTask.FromResult(_byUser.TryGetValue(Key(user), out var list) && list.Any(a => !a.Connection.IsBroken));
    }

    /// <inheritdoc />
    public async ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        Attachment[] targets;
        lock (_gate) targets = _byUser.TryGetValue(Key(user), out var list) ? [.. list] : [];
        if (targets.Length == 0) return false;
        // Re-sanitised here too: a plugin or script could hand the registry a message of its own making.
        var item = TerminalEvent.Message(
            TerminalText.Sanitize(message.From.ToString(), singleLine: true),
            message.Subject is null ? null : TerminalText.Sanitize(message.Subject, singleLine: true),
            TerminalText.Sanitize(message.Text),
            _time.GetUtcNow());
        var results = await Task.WhenAll(targets.Select(a => SendAsync(a, item, cancellationToken)));
        return results.Any(r => r);
    }

    private async Task<bool> SendAsync(Attachment attachment, TerminalEvent item, CancellationToken cancellationToken)
    {
        var connection = attachment.Connection;
        if (connection.IsBroken) return false;
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.Aborted);
        bounded.CancelAfter(SendTimeout);
        try
        {
            await connection.SendPartAsync(item, TerminalControlJsonContext.Default.TerminalEvent, bounded.Token);
            return true;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Not read in time, gone, or already ended: this attachment is finished. Abort wakes its handler, which detaches.
            LogDropped(attachment.User, connection.Id, ex.Message);
            connection.Abort();
            Detach(attachment);
            return false;
        }
    }

    /// <summary>Registers a client for <paramref name="user"/>; dispose the result (or call <see cref="Detach"/>) when it goes.</summary>
    internal Attachment Attach(string user, ControlConnection connection)
    {
        var attachment = new Attachment(this, Key(user), connection);
        lock (_gate)
        {
            if (!_byUser.TryGetValue(attachment.User, out var list)) _byUser[attachment.User] = list = [];
            list.Add(attachment);
        }
        LogAttached(attachment.User, connection.Id, connection.Peer?.UserId);
        return attachment;
    }

    /// <summary>Removes an attachment; removing it twice is harmless.</summary>
    internal void Detach(Attachment attachment)
    {
        bool removed;
        lock (_gate)
        {
            removed = _byUser.TryGetValue(attachment.User, out var list) && list.Remove(attachment);
            if (removed && list!.Count == 0) _byUser.Remove(attachment.User);
        }
        if (removed) LogDetached(attachment.User, attachment.Connection.Id);
    }

    private static string Key(string user) => user.ToLowerInvariant();

    /// <summary>One attached client.</summary>
    internal sealed class Attachment(ControlTerminalSink sink, string user, ControlConnection connection) : IDisposable
    {
        public string User { get; } = user;
        public ControlConnection Connection { get; } = connection;
        public void Dispose() => sink.Detach(this);
    }

    [LoggerMessage(EventId = LogEvents.Terminal.Attached, Level = LogLevel.Information, Message = "terminal client attached for {User} (control connection {Id}, uid {Uid})")]
    private partial void LogAttached(string user, long id, uint? uid);

    [LoggerMessage(EventId = LogEvents.Terminal.Detached, Level = LogLevel.Information, Message = "terminal client for {User} detached (control connection {Id})")]
    private partial void LogDetached(string user, long id);

    [LoggerMessage(EventId = LogEvents.Terminal.Dropped, Level = LogLevel.Warning, Message = "terminal client for {User} dropped (control connection {Id}): {Reason}")]
    private partial void LogDropped(string user, long id, string reason);
}
