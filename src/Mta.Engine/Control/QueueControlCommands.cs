// The `queue.*` control commands (list, search, show, flush, delete, hold, release) over IQueueAdministration, and their JSON shapes.
using System.Text.Json.Serialization;

namespace Mta.Engine.Control;

/// <summary>The names of the queue commands on the control socket.</summary>
public static class QueueControlCommands
{
    /// <summary>
    /// No args. Response: one part per message (<see cref="QueueEntrySnapshot"/>), oldest first, then the final
    /// <see cref="QueueListSummary"/>.
    /// </summary>
    public const string List = "queue.list";

    /// <summary>
    /// Args <c>{"id":ID,"full":false,"bodyLimit":8192}</c>. Response: a part with the <see cref="QueueEntrySnapshot"/>,
    /// parts of <see cref="QueueMessageChunk"/> (the stored message: header section and the first <c>bodyLimit</c> octets
    /// of the body, or all of it when <c>full</c>), then the final <see cref="QueueShowEnd"/>. Unknown id: <c>not_found</c>.
    /// </summary>
    public const string Show = "queue.show";

    /// <summary>
    /// Args <c>{"id":ID?,"domain":DOMAIN?}</c>. Response: <see cref="QueueFlushResult"/>. An id that is not queued:
    /// <c>not_found</c>.
    /// </summary>
    public const string Flush = "queue.flush";

    /// <summary>Args <c>{"ids":[ID,...]}</c> (at least one). Response: <see cref="QueueDeleteResult"/>, one outcome per id.</summary>
    public const string Delete = "queue.delete";

    /// <summary>
    /// Args <c>{"text":TEXT?,"state":"deferred"?,"offset":0,"limit":50}</c> (<see cref="QueueQuery"/>). Response: one part
    /// per message of the page (<see cref="QueueEntrySnapshot"/>), oldest first, then the final <see cref="QueueSearchSummary"/>.
    /// A state that is not a recipient state, or a limit outside 1 to <see cref="QueueQuery.MaxLimit"/>: <c>bad_request</c>.
    /// </summary>
    public const string Search = "queue.search";

    /// <summary>Args <c>{"ids":[ID,...]}</c> (at least one). Response: <see cref="QueueHoldResult"/>, one outcome per id.</summary>
    public const string Hold = "queue.hold";

    /// <summary>Args <c>{"ids":[ID,...]}</c> (at least one). Response: <see cref="QueueHoldResult"/>, one outcome per id.</summary>
    public const string Release = "queue.release";

    /// <summary>The page <c>queue.search</c> gives when no <c>limit</c> is asked for.</summary>
    public const int DefaultSearchLimit = 50;

    /// <summary>Body octets <c>queue.show</c> sends when neither <c>full</c> nor <c>bodyLimit</c> is given.</summary>
    public const long DefaultBodyLimit = 8 * 1024;
}

/// <summary>The end of <c>queue.list</c>.</summary>
/// <param name="Messages">How many messages were listed.</param>
/// <param name="Size">Their total size in octets.</param>
public sealed record QueueListSummary(int Messages, long Size);

/// <summary>The end of <c>queue.search</c>.</summary>
/// <param name="Total">How many messages match, on every page.</param>
/// <param name="Offset">The offset asked for.</param>
/// <param name="Count">How many were sent on this page.</param>
public sealed record QueueSearchSummary(int Total, int Offset, int Count);

/// <summary>The answer of <c>queue.hold</c> and <c>queue.release</c>.</summary>
/// <param name="Results">One outcome per requested id, in request order.</param>
public sealed record QueueHoldResult(IReadOnlyList<QueueHoldOutcome> Results);

/// <summary>What holding or releasing one id did.</summary>
/// <param name="Id">The queue id asked for.</param>
/// <param name="Found">False when no such message was queued.</param>
/// <param name="Recipients">Recipients held (or released); 0 for a message with none to hold (or none held).</param>
public sealed record QueueHoldOutcome(string Id, bool Found, int Recipients);

/// <summary>A piece of a stored message in <c>queue.show</c>, base64 so any octet (8-bit, binary) passes unchanged.</summary>
/// <param name="Data">The octets, base64.</param>
public sealed record QueueMessageChunk(string Data);

/// <summary>The end of <c>queue.show</c>.</summary>
/// <param name="Bytes">Octets of the message sent in the chunks.</param>
/// <param name="Truncated">True when the body was cut at the limit (the message is longer).</param>
public sealed record QueueShowEnd(long Bytes, bool Truncated);

/// <summary>The answer of <c>queue.flush</c>.</summary>
/// <param name="Scheduled">How many deferred recipients were made due now.</param>
public sealed record QueueFlushResult(int Scheduled);

/// <summary>The answer of <c>queue.delete</c>.</summary>
/// <param name="Results">One outcome per requested id, in request order.</param>
public sealed record QueueDeleteResult(IReadOnlyList<QueueDeleteOutcome> Results);

/// <summary>What deleting one id did.</summary>
/// <param name="Id">The queue id asked for.</param>
/// <param name="Found">False when no such message was queued.</param>
/// <param name="Deleted">Recipients removed (not yet final ones).</param>
public sealed record QueueDeleteOutcome(string Id, bool Found, int Deleted);

/// <summary>Source-generated (reflection-free) JSON for the queue commands' results; camelCase, nulls omitted.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(QueueEntrySnapshot))]
[JsonSerializable(typeof(QueueListSummary))]
[JsonSerializable(typeof(QueueMessageChunk))]
[JsonSerializable(typeof(QueueShowEnd))]
[JsonSerializable(typeof(QueueFlushResult))]
[JsonSerializable(typeof(QueueDeleteResult))]
[JsonSerializable(typeof(QueueSearchSummary))]
[JsonSerializable(typeof(QueueHoldResult))]
public sealed partial class QueueControlJsonContext : JsonSerializerContext;

/// <summary><c>queue.list</c>: streams the queue, one message per line, so a large queue never makes one huge line.</summary>
public sealed class QueueListCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.List;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var entries = queue.List();
        long size = 0;
        foreach (var entry in entries)
        {
            await connection.SendPartAsync(entry, QueueControlJsonContext.Default.QueueEntrySnapshot, cancellationToken);
            size += entry.Size;
        }
        await connection.SendAsync(new QueueListSummary(entries.Count, size), QueueControlJsonContext.Default.QueueListSummary, cancellationToken);
    }
}

/// <summary><c>queue.show</c>: the envelope, then the stored message in chunks, cut after the header section plus a body limit.</summary>
public sealed class QueueShowCommand(IQueueAdministration queue) : IControlCommandHandler
{
    // 24 KiB of octets is 32 KiB of base64: each line stays well inside what any client buffers.
    private const int ChunkSize = 24 * 1024;

    /// <inheritdoc />
    public string Name => QueueControlCommands.Show;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var id = request.GetRequiredString("id");
        var full = request.GetBoolean("full");
        var bodyLimit = request.GetInt64("bodyLimit", QueueControlCommands.DefaultBodyLimit);
        var entry = queue.Find(id) ?? throw NotFound(id);
        // Opened before the first line goes out, so an unknown id is one plain error line.
        await using var message = queue.OpenMessage(id) ?? throw NotFound(id);
        await connection.SendPartAsync(entry, QueueControlJsonContext.Default.QueueEntrySnapshot, cancellationToken);

        var buffer = new byte[ChunkSize];
        var scanner = new HeaderEndScanner();
        long sent = 0, headerEnd = -1;
        var truncated = false;
        while (!truncated)
        {
            var read = await message.ReadAsync(buffer, cancellationToken);
            if (read == 0) break;
            var take = read;
            if (!full)
            {
                if (headerEnd < 0 && scanner.Find(buffer.AsSpan(0, read)) is { } at) headerEnd = sent + at;
                if (headerEnd >= 0)
                {
                    var allowed = headerEnd + bodyLimit - sent;
                    if (allowed < read)
                    {
                        take = (int)Math.Max(0, allowed);
                        truncated = true;
                    }
                }
            }
            if (take > 0)
            {
                await connection.SendPartAsync(new QueueMessageChunk(Convert.ToBase64String(buffer, 0, take)),
                    QueueControlJsonContext.Default.QueueMessageChunk, cancellationToken);
                sent += take;
            }
        }
        await connection.SendAsync(new QueueShowEnd(sent, truncated), QueueControlJsonContext.Default.QueueShowEnd, cancellationToken);
    }

    private static ControlCommandException NotFound(string id) => new($"no such message: {id}", ControlErrorCodes.NotFound);

    // Finds the empty line ending the header section (CRLF CRLF, or bare LF LF), across chunk boundaries.
    private struct HeaderEndScanner
    {
        // 0: inside a line; 1: just after LF (a line start); 2: after LF then CR. The message itself starts at a line start.
        private int _state;

        public HeaderEndScanner() => _state = 1;

        /// <summary>The offset just past the empty line within this chunk, or null when it is not in it.</summary>
        public int? Find(ReadOnlySpan<byte> chunk)
        {
            for (var i = 0; i < chunk.Length; i++)
            {
                switch (chunk[i])
                {
                    case (byte)'\n':
                        if (_state is 1 or 2) return i + 1;
                        _state = 1;
                        break;
                    case (byte)'\r':
                        _state = _state == 1 ? 2 : 0;
                        break;
                    default:
                        _state = 0;
                        break;
                }
            }
            return null;
        }
    }
}

/// <summary><c>queue.flush</c>: makes deferred recipients due now (all, one message's, or one domain's).</summary>
public sealed class QueueFlushCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.Flush;

    /// <inheritdoc />
    public Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var id = request.GetString("id");
        var domain = request.GetString("domain");
        if (id is { Length: 0 }) id = null;
        if (domain is { Length: 0 }) domain = null;
        if (id is not null && queue.Find(id) is null)
            throw new ControlCommandException($"no such message: {id}", ControlErrorCodes.NotFound);
        var scheduled = queue.Flush(id, domain);
        return connection.SendAsync(new QueueFlushResult(scheduled), QueueControlJsonContext.Default.QueueFlushResult, cancellationToken);
    }
}

/// <summary><c>queue.delete</c>: removes messages without a DSN, reporting each id.</summary>
public sealed class QueueDeleteCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.Delete;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var ids = request.GetStringArray("ids");
        if (ids.Count == 0)
            throw new ControlCommandException($"{Name}: argument \"ids\" must name at least one message", ControlErrorCodes.BadRequest);
        var results = new List<QueueDeleteOutcome>(ids.Count);
        foreach (var id in ids)
        {
            var deleted = id.Length == 0 ? 0 : await queue.DeleteAsync(id, cancellationToken);
            results.Add(new QueueDeleteOutcome(id, deleted > 0, deleted));
        }
        await connection.SendAsync(new QueueDeleteResult(results), QueueControlJsonContext.Default.QueueDeleteResult, cancellationToken);
    }
}

/// <summary><c>queue.search</c>: one page of the matching messages, one per line, then the total.</summary>
public sealed class QueueSearchCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.Search;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var text = request.GetString("text");
        var stateName = request.GetString("state");
        QueueRecipientState? state = null;
        if (!string.IsNullOrEmpty(stateName))
        {
            state = Enum.GetValues<QueueRecipientState>().Where(s => s.ToDisplayName() == stateName.ToLowerInvariant())
                .Select(s => (QueueRecipientState?)s).FirstOrDefault()
                ?? throw new ControlCommandException($"{Name}: unknown state \"{stateName}\" (ready, active, deferred, held, delivered, failed, deleted)",
                    ControlErrorCodes.BadRequest);
        }
        var offset = request.GetInt64("offset", 0);
        var limit = request.GetInt64("limit", QueueControlCommands.DefaultSearchLimit);
        if (offset is < 0 or > int.MaxValue || limit is < 1 or > QueueQuery.MaxLimit)
            throw new ControlCommandException($"{Name}: offset must be 0 or more and limit 1 to {QueueQuery.MaxLimit}", ControlErrorCodes.BadRequest);
        var page = queue.Search(new QueueQuery(text, state), (int)offset, (int)limit);
        foreach (var entry in page.Entries)
            await connection.SendPartAsync(entry, QueueControlJsonContext.Default.QueueEntrySnapshot, cancellationToken);
        await connection.SendAsync(new QueueSearchSummary(page.Total, (int)offset, page.Entries.Count),
            QueueControlJsonContext.Default.QueueSearchSummary, cancellationToken);
    }
}

/// <summary><c>queue.hold</c>: puts messages on hold (as postsuper -h), reporting each id.</summary>
public sealed class QueueHoldCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.Hold;

    /// <inheritdoc />
    public Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken) =>
        QueueHoldCommands.RunAsync(Name, request, connection, queue, queue.HoldAsync, cancellationToken);
}

/// <summary><c>queue.release</c>: releases held messages (as postsuper -H), reporting each id.</summary>
public sealed class QueueReleaseCommand(IQueueAdministration queue) : IControlCommandHandler
{
    /// <inheritdoc />
    public string Name => QueueControlCommands.Release;

    /// <inheritdoc />
    public Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken) =>
        QueueHoldCommands.RunAsync(Name, request, connection, queue, queue.ReleaseAsync, cancellationToken);
}

/// <summary>What hold and release share: the ids argument and one outcome per id.</summary>
internal static class QueueHoldCommands
{
    public static async Task RunAsync(string name, ControlRequest request, ControlConnection connection, IQueueAdministration queue,
        Func<string, CancellationToken, Task<int>> act, CancellationToken cancellationToken)
    {
        var ids = request.GetStringArray("ids");
        if (ids.Count == 0)
            throw new ControlCommandException($"{name}: argument \"ids\" must name at least one message", ControlErrorCodes.BadRequest);
        var results = new List<QueueHoldOutcome>(ids.Count);
        foreach (var id in ids)
        {
            // Found apart from the count: a message with nothing to hold (all held already) is still there.
            var found = id.Length > 0 && queue.Find(id) is not null;
            var count = found ? await act(id, cancellationToken) : 0;
            results.Add(new QueueHoldOutcome(id, found, count));
        }
        await connection.SendAsync(new QueueHoldResult(results), QueueControlJsonContext.Default.QueueHoldResult, cancellationToken);
    }
}
