// The `terminal.attach` control command behind `mta terminal`: who the peer may attach as, and the stream of messages it gets.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Mta.Engine.Control;

namespace Mta.Engine.Terminal;

/// <summary>The terminal commands of the control socket.</summary>
public static class TerminalControlCommands
{
    /// <summary>
    /// Args <c>{"user":USER?,"token":TOKEN?}</c>. Response: a part <c>{"type":"attached","user":USER}</c> once the user is
    /// active, then a part <c>{"type":"message","from":..,"subject":..,"text":..,"receivedAt":..}</c> per terminal
    /// message, for as long as the client stays connected; when the server stops, a final
    /// <c>{"type":"detached","reason":..}</c>. Refusals: <c>forbidden</c>, <see cref="Disabled"/>, <c>bad_request</c>.
    /// </summary>
    public const string Attach = "terminal.attach";

    /// <summary>The error code when terminal delivery is off (<c>Terminal:Enabled</c> is false).</summary>
    public const string Disabled = "disabled";
}

/// <summary>One line of the <c>terminal.attach</c> stream (camelCase JSON, nulls omitted).</summary>
/// <param name="Type"><c>attached</c>, <c>message</c> or <c>detached</c>.</param>
/// <param name="User">The user attached as (<c>attached</c>).</param>
/// <param name="From">The envelope sender, empty for the null reverse-path (<c>message</c>).</param>
/// <param name="Subject">The subject, if any (<c>message</c>).</param>
/// <param name="Text">The text to show (<c>message</c>).</param>
/// <param name="ReceivedAt">When the server delivered it (<c>message</c>).</param>
/// <param name="Reason">Why the stream ends (<c>detached</c>).</param>
public sealed record TerminalEvent(string Type, string? User = null, string? From = null, string? Subject = null, string? Text = null,
    DateTimeOffset? ReceivedAt = null, string? Reason = null)
{
    /// <summary>The first line: attached as <paramref name="user"/>.</summary>
    public static TerminalEvent Attached(string user) => new("attached", User: user);

    /// <summary>A terminal message.</summary>
    public static TerminalEvent Message(string from, string? subject, string text, DateTimeOffset receivedAt) =>
        new("message", From: from, Subject: subject, Text: text, ReceivedAt: receivedAt);

    /// <summary>The final line when the server ends the stream.</summary>
    public static TerminalEvent Detached(string reason) => new("detached", Reason: reason);
}

/// <summary>Source-generated JSON for <see cref="TerminalEvent"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TerminalEvent))]
public sealed partial class TerminalControlJsonContext : JsonSerializerContext;

/// <summary>
/// <c>terminal.attach</c>: open to every local user (<see cref="AnyUser"/>), it decides itself who the peer may attach
/// as. The peer's uid (from the kernel) maps to its login name (the passwd database), and a peer may attach as exactly
/// that name (compared case-sensitively, and only when it is a mailbox name as it stands: lower case); root may attach
/// as any user; anyone may attach as a user whose token (<c>Terminal:Tokens</c>) it presents. A token that is given is always
/// checked, whoever presents it. When <c>Mailboxes:Users</c> lists users, only those can be attached as.
/// </summary>
public sealed partial class TerminalAttachCommand : IControlCommandHandler
{
    private readonly ControlTerminalSink _sink;
    private readonly MtaOptions _options;
    private readonly Func<uint, string?> _userNameOf;
    private readonly ILogger<TerminalAttachCommand> _logger;

    /// <summary>Creates the handler; the peer's login name comes from the system's user database.</summary>
    public TerminalAttachCommand(ControlTerminalSink sink, MtaOptions options, ILogger<TerminalAttachCommand> logger)
        : this(sink, options, logger, UnixUsers.NameOf)
    {
    }

    internal TerminalAttachCommand(ControlTerminalSink sink, MtaOptions options, ILogger<TerminalAttachCommand> logger, Func<uint, string?> userNameOf)
    {
        _sink = sink;
        _options = options;
        _logger = logger;
        _userNameOf = userNameOf;
    }

    /// <inheritdoc />
    public string Name => TerminalControlCommands.Attach;

    /// <summary>True: any local user may ask; <see cref="Authorize"/> decides.</summary>
    public bool AnyUser => true;

    /// <inheritdoc />
    public async Task HandleAsync(ControlRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        if (!_options.Terminal.Enabled)
            throw new ControlCommandException("terminal delivery is off on this server (Terminal:Enabled is false)", TerminalControlCommands.Disabled);
        string user;
        try
        {
            user = Authorize(connection.Peer, request.GetString("user"), request.GetString("token"));
        }
        catch (ControlCommandException ex)
        {
            LogRefused(connection.Id, connection.Peer?.UserId, ex.Message);
            throw;
        }

        using var attachment = _sink.Attach(user, connection);
        try
        {
            // Active before the client hears so: once it reads "attached", a SEND to the user finds it.
            await connection.SendPartAsync(TerminalEvent.Attached(user), TerminalControlJsonContext.Default.TerminalEvent, cancellationToken);
            // The client sends nothing more; reading tells when it goes away (null at end of stream).
            while (true)
            {
                try
                {
                    if (await connection.ReadRequestAsync(cancellationToken) is null) return;
                }
                catch (ControlCommandException)
                {
                    // A stray or over-long line from the client is ignored; the stream goes on.
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
                {
                    // Reset rather than closed (it quit with a message unread): gone all the same.
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !connection.IsBroken)
        {
            // The server is stopping: say so, briefly (the client may already be gone).
            _sink.Detach(attachment);
            using var bye = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                await connection.SendAsync(TerminalEvent.Detached("the server is stopping"), TerminalControlJsonContext.Default.TerminalEvent, bye.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or System.Net.Sockets.SocketException)
            {
            }
        }
    }

    /// <summary>
    /// The mailbox user <paramref name="peer"/> may attach as, given the <paramref name="requestedUser"/> and
    /// <paramref name="token"/> it sent (each may be null).
    /// </summary>
    /// <exception cref="ControlCommandException">Refused, with the reason for the user (<c>forbidden</c> or <c>bad_request</c>).</exception>
    internal string Authorize(PeerCredentials? peer, string? requestedUser, string? token)
    {
        var requested = string.IsNullOrWhiteSpace(requestedUser) ? null : requestedUser.Trim();
        var peerName = peer is null ? null : _userNameOf(peer.UserId);
        if (token is not null)
        {
            var user = requested ?? peerName
                ?? throw Forbidden("give the user name with the token ('mta terminal USER --token TOKEN')");
            if (!_options.Terminal.Tokens.TryGetValue(user, out var expected) || !TokenEquals(expected, token))
                throw Forbidden($"the token is not valid for {Printable(user)}");
            return Mailbox(user);
        }
        if (requested is null)
        {
            if (peerName is null)
                throw Forbidden(peer is null
                    ? "cannot tell who you are (no peer credentials on this system); give USER and --token"
                    : $"uid {peer.UserId} has no user name; give USER and --token");
            return peer!.UserId == 0 ? Mailbox(peerName) : OwnMailbox(peerName);
        }
        if (peer is { UserId: 0 }) return Mailbox(requested);
        // By uid: the name must be the one the kernel's uid maps to, exactly. Mailbox names are case-folded, so a
        // case-insensitive match would let the uid of "Bob" take the mailbox of another account, "bob".
        if (peerName is not null && string.Equals(peerName, requested, StringComparison.Ordinal)) return OwnMailbox(peerName);
        throw Forbidden(peer is null
            ? $"cannot attach as {Printable(requested)}: this system gives no peer credentials; use --token"
            : $"{Printable(peerName ?? "uid " + peer.UserId)} may not attach as {Printable(requested)}: only root may attach as another user; or use --token");
    }

    // A peer's own login name as its mailbox: only when the name is already the mailbox name as it stands. "Bob" would
    // fold to the mailbox "bob", which may belong to another uid: such a login attaches with a token, or root's help.
    private string OwnMailbox(string loginName)
    {
        var mailbox = Mailbox(loginName);
        if (!string.Equals(mailbox, loginName, StringComparison.Ordinal))
            throw Forbidden($"the login name {Printable(loginName)} is not a mailbox name as it stands (mailbox names are lower case, " +
                $"and {Printable(mailbox)} may be another account); use --token");
        return mailbox;
    }

    // The user name as a mailbox user: a usable name, lower-cased, and a configured user when the list is closed.
    private string Mailbox(string user)
    {
        if (!MtaOptionsValidator.IsMailboxName(user))
            throw new ControlCommandException($"'{Printable(user)}' is not a usable user name (letters, digits, . _ - + only)", ControlErrorCodes.BadRequest);
        var mailbox = user.ToLowerInvariant();
        var users = _options.Mailboxes.Users;
        if (users.Count > 0 && !users.Contains(mailbox, StringComparer.OrdinalIgnoreCase))
            throw Forbidden($"{mailbox} is not a mailbox user on this server");
        return mailbox;
    }

    // Hashes first, so the comparison takes the same time whatever the lengths.
    private static bool TokenEquals(string expected, string given) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(given)));

    private static string Printable(string text) => TerminalText.Sanitize(text.Length > 64 ? text[..64] + "..." : text, singleLine: true);

    private static ControlCommandException Forbidden(string why) => new(why, ControlErrorCodes.Forbidden);

    [LoggerMessage(EventId = LogEvents.Terminal.AttachRefused, Level = LogLevel.Information, Message = "terminal.attach refused on control connection {Id} (uid {Uid}): {Reason}")]
    private partial void LogRefused(long id, uint? uid, string reason);
}
