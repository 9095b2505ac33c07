// AUTH (RFC 4954) for the session: PLAIN and LOGIN, the auth hook, the user store, and the failure limiter.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver.Commands;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    /// <summary>AUTH is offered inside TLS, or in clear text only where a loopback listener allows it.</summary>
    private bool OffersAuth => Tls is not null || _allowPlaintextAuth;

    /// <summary>The checks that need no further input; the exchange itself runs after the command buffer is released,
    /// because the client's responses are lines of their own.</summary>
    internal AfterLine BeginAuth(AuthCommand auth)
    {
        // EHLO given, inside TLS (or allowed in clear text), not yet authenticated, no transaction: the table checked.
        if (!Sasl.IsSupported(auth.Mechanism)) Reply(SaslReplies.UnsupportedMechanism);
        else if (_ctx.AuthFailures.IsBlocked(RemoteEndPoint.Address)) Reply(SaslReplies.TemporaryFailure);
        else
        {
            _pendingAuth = auth;
            return AfterLine.Authenticate;
        }
        return AfterLine.ReadCommand;
    }

    private async Task AuthenticateAsync(AuthCommand auth, CancellationToken aborted)
    {
        _pendingAuth = null;
        // A failure slot is reserved before any response is read or any hash computed: parallel attempts from one
        // address count while they run, so no more can be evaluated than Auth:MaxFailuresPerIp allows.
        var attempt = await _ctx.AuthFailures.TryBeginAttemptAsync(RemoteEndPoint.Address, aborted);
        if (attempt is null)
        {
            LogAuthThrottled(SessionId, RemoteEndPoint.Address);
            Reply(SaslReplies.TemporaryFailure);
            return;
        }
        // Disposed unended (cancelled, deferred, busy, or the client left): the reservation is given back.
        _authMechanism = auth.Mechanism;
        using (attempt) await ExchangeAsync(auth, attempt, aborted);
    }

    private async Task ExchangeAsync(AuthCommand auth, AuthFailureLimiter.AuthAttempt attempt, CancellationToken aborted)
    {
        string? user, password, error;
        if (auth.Mechanism == Sasl.Plain)
        {
            var response = auth.InitialResponse;
            if (response is null)
            {
                _connection.Output.Write(SaslReplies.EmptyChallenge);
                response = await ReadAuthLineAsync(attempt);
                if (response is null) return;
            }
            if (Sasl.IsCancel(response)) { Reply(SaslReplies.Cancelled); return; }
            if (!SaslPlain.TryDecode(response == "=" ? "" : response, out var authzid, out user, out password, out error))
            {
                await FailAsync(attempt, SaslReplies.Malformed(error ?? "Malformed PLAIN response"));
                return;
            }
            // Acting as another user is not supported: the authorization identity must be the user itself.
            if (authzid is not null && !string.Equals(authzid, user, StringComparison.OrdinalIgnoreCase))
            {
                await FailAsync(attempt, SaslReplies.InvalidCredentials);
                return;
            }
        }
        else
        {
            var userLine = auth.InitialResponse;
            if (userLine is null)
            {
                Reply(SaslLogin.UsernameReply, countError: false);
                userLine = await ReadAuthLineAsync(attempt);
                if (userLine is null) return;
            }
            if (Sasl.IsCancel(userLine)) { Reply(SaslReplies.Cancelled); return; }
            if (!SaslLogin.TryDecodeUser(userLine, out user, out error))
            {
                await FailAsync(attempt, SaslReplies.Malformed(error ?? "Malformed LOGIN response"));
                return;
            }
            Reply(SaslLogin.PasswordReply, countError: false);
            var passwordLine = await ReadAuthLineAsync(attempt);
            if (passwordLine is null) return;
            if (Sasl.IsCancel(passwordLine)) { Reply(SaslReplies.Cancelled); return; }
            if (!SaslLogin.TryDecodePassword(passwordLine, out password, out error))
            {
                await FailAsync(attempt, SaslReplies.Malformed(error ?? "Malformed LOGIN response"));
                return;
            }
        }

        var outcome = await Hooks.RunAsync(new AuthContext(this, auth.Mechanism, user!, password!), aborted);
        bool accepted;
        if (outcome.Result.Decision == HookDecision.Accept) accepted = true;
        else if (outcome.IsContinue)
        {
            var check = await _ctx.UserStore.CheckAsync(user!, password!, aborted);
            if (check == PasswordCheck.Busy)
            {
                LogAuthBusy(SessionId, auth.Mechanism);
                Reply(SaslReplies.TemporaryFailure);
                return;
            }
            accepted = check == PasswordCheck.Match;
        }
        else
        {
            if (outcome.Result.Decision == HookDecision.Reject) await FailAsync(attempt, FromHook(outcome, null));
            else Reply(FromHook(outcome, null));
            return;
        }
        if (!accepted)
        {
            LogAuthFailed(SessionId, auth.Mechanism, user!);
            await FailAsync(attempt, SaslReplies.InvalidCredentials);
            return;
        }
        attempt.Succeed();
        _authenticatedUser = user;
        LogAuthenticated(SessionId, auth.Mechanism, user!);
        Reply(SaslReplies.Succeeded);
    }

    /// <summary>A failed attempt: a growing delay first (it slows guessing), then the reply, then maybe the door.</summary>
    private async Task FailAsync(AuthFailureLimiter.AuthAttempt attempt, SmtpReply reply)
    {
        var address = RemoteEndPoint.Address;
        var delay = _ctx.AuthFailures.DelayFor(address);
        if (delay > TimeSpan.Zero) await Task.Delay(delay, _ctx.Time);
        // Not the session's token: a client that hangs up after a failure still has it counted on every node.
        await attempt.FailAsync(CancellationToken.None);
        CountAuthFailure(_authMechanism);
        Reply(reply);
        if (_ctx.AuthFailures.IsBlocked(address) && !_closing)
        {
            Reply(SaslReplies.TooManyFailures, countError: false);
            _closing = true;
            _closeReason = "too many authentication failures";
        }
    }

    /// <summary>Reads one client response line of the exchange (bounded by the AUTH line limit); null when the client left.</summary>
    private async Task<string?> ReadAuthLineAsync(AuthFailureLimiter.AuthAttempt attempt)
    {
        await FlushAsync();
        while (true)
        {
            var result = await _connection.ReadAsync(ReadKind.AuthResponse);
            var buffer = result.Buffer;
            var status = SmtpLineReader.TryReadLine(buffer, SmtpLimits.MaxAuthLine, out var line, out var consumed);
            if (status == LineStatus.Complete)
            {
                var text = Encoding.ASCII.GetString(line);
                _connection.Input.AdvanceTo(consumed);
                return text;
            }
            if (status == LineStatus.TooLong)
            {
                _connection.Input.AdvanceTo(buffer.Start, buffer.End);
                _skippingLongLine = true;
                await FailAsync(attempt, SaslReplies.Malformed("Authentication response too long"));
                return null;
            }
            _connection.Input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                _closing = true;
                _closeReason = "client closed during AUTH";
                return null;
            }
        }
    }

    /// <summary>Submission (RFC 6409): only authenticated users, and by default only from their own addresses.</summary>
    private SmtpReply? SubmissionRefusal(SmtpAddress sender)
    {
        // AUTH itself is the table's rule (AuthRule.OnSubmission): only the sender is checked here.
        if (!_requireOwnSender || sender.IsNull || _authenticatedUser is null) return null;
        var own = _ctx.UserStore.AllowedSenders(_authenticatedUser);
        return own.Contains(sender.ToString(), StringComparer.OrdinalIgnoreCase)
            ? null
            : new SmtpReply(553, "5.7.1", $"{sender.ToPathString()}: Sender address rejected: not owned by user {_authenticatedUser}");
    }

    [LoggerMessage(EventId = LogEvents.Receiver.Authenticated, Level = LogLevel.Information, Message = "session={SessionId} auth mechanism={Mechanism} user={User} result=ok")]
    private partial void LogAuthenticated(string sessionId, string mechanism, string user);

    [LoggerMessage(EventId = LogEvents.Receiver.AuthFailed, Level = LogLevel.Warning, Message = "session={SessionId} auth mechanism={Mechanism} user={User} result=failed")]
    private partial void LogAuthFailed(string sessionId, string mechanism, string user);

    [LoggerMessage(EventId = LogEvents.Receiver.AuthThrottled, Level = LogLevel.Warning, Message = "session={SessionId} auth from {Address} refused: failures and attempts in progress reach Auth:MaxFailuresPerIp")]
    private partial void LogAuthThrottled(string sessionId, System.Net.IPAddress address);

    [LoggerMessage(EventId = LogEvents.Receiver.AuthBusy, Level = LogLevel.Warning, Message = "session={SessionId} auth mechanism={Mechanism} result=busy: the password hashing queue is full (Auth:HashQueueLimit)")]
    private partial void LogAuthBusy(string sessionId, string mechanism);
}
