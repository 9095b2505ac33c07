// Log messages of the SMTP client (event ids 700-749). AUTH secrets never reach them: Append redacts before logging.
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Outbound.Client;

public sealed partial class SmtpClientConnection
{
    [LoggerMessage(EventId = LogEvents.Outbound.Connected, Level = LogLevel.Debug, Message = "connected to {Host}: {Greeting}")]
    private partial void LogConnected(string host, string greeting);

    [LoggerMessage(EventId = LogEvents.Outbound.HeloFallback, Level = LogLevel.Information, Message = "{Host} refused EHLO ({Reply}); falling back to HELO")]
    private partial void LogHeloFallback(string host, string reply);

    [LoggerMessage(EventId = LogEvents.Outbound.TlsEstablished, Level = LogLevel.Debug, Message = "TLS with {Host}: {Protocol} {Cipher} verified={Verified}")]
    private partial void LogTlsEstablished(string host, string protocol, string cipher, bool verified);

    [LoggerMessage(EventId = LogEvents.Outbound.TlsFailed, Level = LogLevel.Warning, Message = "TLS handshake with {Host} failed: {Reason}")]
    private partial void LogTlsFailed(string host, string reason);

    [LoggerMessage(EventId = LogEvents.Outbound.Authenticated, Level = LogLevel.Debug, Message = "authenticated to {Host} as {User} with {Mechanism}")]
    private partial void LogAuthenticated(string host, string user, string mechanism);

    [LoggerMessage(EventId = LogEvents.Outbound.AuthFailed, Level = LogLevel.Warning, Message = "AUTH {Mechanism} at {Host} failed: {Reply}")]
    private partial void LogAuthFailed(string host, string mechanism, string reply);

    [LoggerMessage(EventId = LogEvents.Outbound.SessionFailed, Level = LogLevel.Debug, Message = "session with {Host} failed at {Stage}: {Reason}")]
    private partial void LogSessionFailed(string host, SessionStage stage, string reason);

    [LoggerMessage(EventId = LogEvents.Outbound.Transaction, Level = LogLevel.Debug, Message = "transaction with {Host}: {Delivered}/{Total} recipients delivered, last reply {Reply}")]
    private partial void LogTransaction(string host, int delivered, int total, string reply);

    [LoggerMessage(EventId = LogEvents.Outbound.RefusedLocally, Level = LogLevel.Debug, Message = "message not sent to {Host}: {Reason}")]
    private partial void LogRefusedLocally(string host, string reason);

    [LoggerMessage(EventId = LogEvents.Outbound.ResetFailed, Level = LogLevel.Debug, Message = "RSET at {Host} failed: {Reason}")]
    private partial void LogResetFailed(string host, string reason);

    [LoggerMessage(EventId = LogEvents.Outbound.QuitFailed, Level = LogLevel.Debug, Message = "QUIT at {Host} failed: {Reason}")]
    private partial void LogQuitFailed(string host, string reason);

    [LoggerMessage(EventId = LogEvents.Outbound.Closed, Level = LogLevel.Debug, Message = "closed connection to {Host}")]
    private partial void LogClosed(string host);

    [LoggerMessage(EventId = LogEvents.Outbound.Command, Level = LogLevel.Trace, Message = "{Host} > {Command}")]
    private partial void LogCommand(string host, string command);

    [LoggerMessage(EventId = LogEvents.Outbound.Reply, Level = LogLevel.Trace, Message = "{Host} < {Reply}")]
    private partial void LogReply(string host, string reply);

    [LoggerMessage(EventId = LogEvents.Outbound.ChunksSent, Level = LogLevel.Debug, Message = "sent {Octets} octets to {Host} in {Chunks} BDAT chunk(s), pipelined={Pipelined}")]
    private partial void LogChunksSent(string host, long octets, int chunks, bool pipelined);
}
