// The control socket's vocabulary shared by server, handlers and client: requests, peer credentials, error codes, errors.
using System.Text.Json;

namespace Mta.Engine.Control;

/// <summary>
/// One command of the control socket. The server routes a request whose <c>command</c> equals <see cref="Name"/> here;
/// register implementations in DI as <see cref="IControlCommandHandler"/>.
/// </summary>
/// <remarks>
/// A response is one or more JSON lines. <see cref="ControlConnection.SendPartAsync{T}(T, System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}, CancellationToken)"/>
/// sends a line marked <c>"more":true</c> (the response goes on); <see cref="ControlConnection.SendAsync{T}(T, System.Text.Json.Serialization.Metadata.JsonTypeInfo{T}, CancellationToken)"/>
/// or <see cref="ControlConnection.SendErrorAsync"/> sends the final line. A handler that returns without a final line gets
/// <c>{"ok":true,"result":null}</c>; one that throws gets <c>{"ok":false,...}</c>. A long-lived (streaming) command simply
/// keeps sending parts until <c>cancellationToken</c> fires or <see cref="ControlConnection.ReadRequestAsync"/> reports that
/// the client went away.
/// </remarks>
public interface IControlCommandHandler
{
    /// <summary>The command name on the wire, e.g. <c>queue.list</c>; ordinal, case-sensitive.</summary>
    string Name { get; }

    /// <summary>Runs one request. Throw <see cref="ControlCommandException"/> for an answer the operator should read.</summary>
    /// <param name="request">The parsed request.</param>
    /// <param name="connection">Where the response lines go, and who the peer is.</param>
    /// <param name="cancellationToken">Fires when the server stops or the client can no longer be written to.</param>
    Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken);

    /// <summary>
    /// True when any local user may run this command (it then checks <see cref="ControlConnection.Peer"/> itself, as
    /// <c>terminal.attach</c> does). False (the default) serves only the uid the server runs as and root; others get
    /// <see cref="ControlErrorCodes.Forbidden"/>. The socket is open to every local user, so this is the access control.
    /// </summary>
    bool AnyUser => false;
}

/// <summary>The connecting process, from the kernel (SO_PEERCRED at connect time), so it cannot be forged by the client.</summary>
/// <param name="ProcessId">The peer's pid.</param>
/// <param name="UserId">The peer's effective uid.</param>
/// <param name="GroupId">The peer's effective gid.</param>
public sealed record PeerCredentials(int ProcessId, uint UserId, uint GroupId);

/// <summary>The machine-readable <c>code</c> of an <c>{"ok":false,...}</c> response, beside its human <c>error</c> text.</summary>
public static class ControlErrorCodes
{
    /// <summary>The request is not a JSON object with a string <c>command</c>, or an argument has the wrong type.</summary>
    public const string BadRequest = "bad_request";

    /// <summary>No handler has this command name.</summary>
    public const string UnknownCommand = "unknown_command";

    /// <summary>The request line is longer than the server accepts; the line was skipped.</summary>
    public const string TooLong = "too_long";

    /// <summary>The server already serves its maximum of control connections; the connection is closed.</summary>
    public const string Busy = "busy";

    /// <summary>The object named (for example a queue id) does not exist.</summary>
    public const string NotFound = "not_found";

    /// <summary>The handler failed unexpectedly; the server logged it.</summary>
    public const string Internal = "internal";

    /// <summary>The peer may not run this command: only the server's own user and root may, or the command refused
    /// this peer (for example <c>terminal.attach</c> as another user without a token).</summary>
    public const string Forbidden = "forbidden";
}

/// <summary>A failure of the control channel itself: unreadable or truncated response, connection lost.</summary>
public class ControlException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ControlException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// A command's answer <c>{"ok":false,"error":Message,"code":Code}</c>. Handlers throw it to answer with an error; the client
/// throws it when the server answered with one.
/// </summary>
public sealed class ControlCommandException : ControlException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The text for the operator.</param>
    /// <param name="code">One of <see cref="ControlErrorCodes"/> (or a handler's own), null when none applies.</param>
    public ControlCommandException(string message, string? code = null) : base(message) => Code = code;

    /// <summary>The machine-readable code, if any.</summary>
    public string? Code { get; }
}

/// <summary>A request line: <c>{"command":"queue.show","args":{"id":"..."}}</c>; <c>args</c> is optional.</summary>
public sealed class ControlRequest
{
    private ControlRequest(string command, JsonElement args)
    {
        Command = command;
        Args = args;
    }

    /// <summary>The command name.</summary>
    public string Command { get; }

    /// <summary>The arguments: a JSON object, or <see cref="JsonValueKind.Undefined"/> when the request had none.</summary>
    public JsonElement Args { get; }

    /// <summary>Parses one request line (UTF-8 JSON, without its newline).</summary>
    /// <exception cref="ControlCommandException">With <see cref="ControlErrorCodes.BadRequest"/> when the line is not a request.</exception>
    public static ControlRequest Parse(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line, new JsonReaderOptions { MaxDepth = 32 });
        JsonElement root;
        try
        {
            root = JsonElement.ParseValue(ref reader);
            // ParseValue stops after the first value; anything but whitespace after it is a malformed line.
            if (reader.Read()) throw new JsonException("text after the request object");
        }
        catch (JsonException ex)
        {
            throw new ControlCommandException($"malformed request: {ex.Message}", ControlErrorCodes.BadRequest);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new ControlCommandException("malformed request: expected a JSON object", ControlErrorCodes.BadRequest);
        if (!root.TryGetProperty("command", out var command) || command.ValueKind != JsonValueKind.String || command.GetString() is not { Length: > 0 } name)
            throw new ControlCommandException("malformed request: \"command\" must be a non-empty string", ControlErrorCodes.BadRequest);
        var args = default(JsonElement);
        if (root.TryGetProperty("args", out var a) && a.ValueKind != JsonValueKind.Null)
        {
            if (a.ValueKind != JsonValueKind.Object)
                throw new ControlCommandException("malformed request: \"args\" must be an object", ControlErrorCodes.BadRequest);
            args = a;
        }
        return new ControlRequest(name, args);
    }

    /// <summary>An optional string argument; null when absent or JSON null.</summary>
    /// <exception cref="ControlCommandException">When it is present but not a string.</exception>
    public string? GetString(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } e => e.GetString(),
        _ => throw WrongType(name, "a string"),
    };

    /// <summary>A required, non-empty string argument.</summary>
    /// <exception cref="ControlCommandException">When it is missing, empty or not a string.</exception>
    public string GetRequiredString(string name) =>
        GetString(name) is { Length: > 0 } value ? value : throw WrongType(name, "a non-empty string");

    /// <summary>An optional boolean argument.</summary>
    /// <exception cref="ControlCommandException">When it is present but not a boolean.</exception>
    public bool GetBoolean(string name, bool defaultValue = false) => Get(name) switch
    {
        null => defaultValue,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw WrongType(name, "true or false"),
    };

    /// <summary>An optional non-negative integer argument.</summary>
    /// <exception cref="ControlCommandException">When it is present but not a non-negative integer.</exception>
    public long GetInt64(string name, long defaultValue) => Get(name) switch
    {
        null => defaultValue,
        { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out var n) && n >= 0 => n,
        _ => throw WrongType(name, "a non-negative integer"),
    };

    /// <summary>An optional array of strings; empty when absent.</summary>
    /// <exception cref="ControlCommandException">When it is present but not an array of strings.</exception>
    public IReadOnlyList<string> GetStringArray(string name)
    {
        if (Get(name) is not { } e) return [];
        if (e.ValueKind != JsonValueKind.Array) throw WrongType(name, "an array of strings");
        var values = new List<string>(e.GetArrayLength());
        foreach (var item in e.EnumerateArray())
            values.Add(item.ValueKind == JsonValueKind.String ? item.GetString()! : throw WrongType(name, "an array of strings"));
        return values;
    }

    private JsonElement? Get(string name) =>
        Args.ValueKind == JsonValueKind.Object && Args.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private ControlCommandException WrongType(string name, string expected) =>
        new($"{Command}: argument \"{name}\" must be {expected}", ControlErrorCodes.BadRequest);
}
