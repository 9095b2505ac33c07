// Log messages of the SMTP client (event ids 700-749). AUTH secrets never reach them: Append redacts before logging.
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Outbound.Client;

public sealed partial class SmtpClientConnection
{
    [LoggerMessage(EventId = 700, Level = LogLevel.Debug, Message = "connected to {Host}: {Greeting}")]
    private partial void LogConnected(string host, string greeting);

    [LoggerMessage(EventId = 701, Level = LogLevel.Information, Message = "{Host} refused EHLO ({Reply}); falling back to HELO")]
    private partial void LogHeloFallback(string host, string reply);

    [LoggerMessage(EventId = 702, Level = LogLevel.Debug, Message = "TLS with {Host}: {Protocol} {Cipher} verified={Verified}")]
    private partial void LogTlsEstablished(string host, string protocol, string cipher, bool verified);

    [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "TLS handshake with {Host} failed: {Reason}")]
    private partial void LogTlsFailed(string host, string reason);

    [LoggerMessage(EventId = 704, Level = LogLevel.Debug, Message = "authenticated to {Host} as {User} with {Mechanism}")]
    private partial void LogAuthenticated(string host, string user, string mechanism);

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning, Message = "AUTH {Mechanism} at {Host} failed: {Reply}")]
    private partial void LogAuthFailed(string host, string mechanism, string reply);

    [LoggerMessage(EventId = 706, Level = LogLevel.Debug, Message = "session with {Host} failed at {Stage}: {Reason}")]
    private partial void LogSessionFailed(string host, SessionStage stage, string reason);

    [LoggerMessage(EventId = 707, Level = LogLevel.Debug, Message = "transaction with {Host}: {Delivered}/{Total} recipients delivered, last reply {Reply}")]
    private partial void LogTransaction(string host, int delivered, int total, string reply);

    [LoggerMessage(EventId = 708, Level = LogLevel.Debug, Message = "message not sent to {Host}: {Reason}")]
    private partial void LogRefusedLocally(string host, string reason);

    [LoggerMessage(EventId = 709, Level = LogLevel.Debug, Message = "RSET at {Host} failed: {Reason}")]
    private partial void LogResetFailed(string host, string reason);

    [LoggerMessage(EventId = 710, Level = LogLevel.Debug, Message = "QUIT at {Host} failed: {Reason}")]
    private partial void LogQuitFailed(string host, string reason);

    [LoggerMessage(EventId = 711, Level = LogLevel.Debug, Message = "closed connection to {Host}")]
    private partial void LogClosed(string host);

    [LoggerMessage(EventId = 712, Level = LogLevel.Trace, Message = "{Host} > {Command}")]
    private partial void LogCommand(string host, string command);

    [LoggerMessage(EventId = 713, Level = LogLevel.Trace, Message = "{Host} < {Reply}")]
    private partial void LogReply(string host, string reply);

    [LoggerMessage(EventId = 714, Level = LogLevel.Debug, Message = "sent {Octets} octets to {Host} in {Chunks} BDAT chunk(s), pipelined={Pipelined}")]
    private partial void LogChunksSent(string host, long octets, int chunks, bool pipelined);
}
