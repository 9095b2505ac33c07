// HELO, EHLO (the keywords this session offers) and STARTTLS.
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Receiver.Commands;
using Mta.Protocol;
using Mta.Protocol.Sasl;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    private bool OffersChunking => IsExtended && _ctx.Options.Limits.Data.Chunking;

    private bool OffersStartTls => _tlsMode == ListenerTlsMode.StartTls && Tls is null;

    internal async ValueTask OnHeloAsync(string domain, bool extended, CancellationToken aborted)
    {
        var outcome = extended
            ? await Hooks.RunAsync(new EhloContext(this, domain), aborted)
            : await Hooks.RunAsync(new HeloContext(this, domain), aborted);
        if (IsRefusal(outcome))
        {
            Reply(FromHook(outcome, null));
            return;
        }
        // As Postfix: a milter never refuses HELO or EHLO (its refusal answers MAIL and later commands); only its
        // shutdown ends the session here.
        if (_milters is not null && await _milters.HeloAsync(domain, aborted) is { Answer.Verdict: Milter.MilterVerdict.Shutdown } milterShutdown)
        {
            Reply(MilterRefusal(milterShutdown)!);
            return;
        }
        // RFC 5321 4.1.4: a new greeting ends any transaction in progress.
        EndTransaction();
        HeloName = domain;
        IsExtended = extended;
        var first = $"{HostName} Hello {domain} [{ClientLiteral()}]";
        if (outcome.Result.Decision == HookDecision.Accept && outcome.Result.Text is { } text) first = text;
        if (!extended)
        {
            Reply(new SmtpReply(250, null, first));
            return;
        }
        var keywords = new List<string>(10) { first, $"SIZE {_ctx.Options.Limits.MaxMessageSize}", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN" };
        if (OffersChunking) keywords.AddRange(["CHUNKING", "BINARYMIME"]);
        if (OffersStartTls) keywords.Add("STARTTLS");
        if (OffersAuth && _authenticatedUser is null) keywords.Add("AUTH " + Sasl.Mechanisms);
        if (OffersEtrn) keywords.Add("ETRN");
        // SEND, SOML, SAML and TURN are RFC 821 commands, not registered ESMTP keywords (RFC 5321 dropped them); they are
        // listed, as Exchange lists TURN, so a client can see they work here. Clients ignore keywords they do not know
        // (RFC 5321 4.1.1.1).
        if (_ctx.TerminalsEnabled) keywords.AddRange(["SEND", "SOML", "SAML"]);
        if (OffersTurn) keywords.Add("TURN");
        if (_xclientAllowed) keywords.Add(XClientCommand.EhloKeyword);
        keywords.Add("HELP");
        var lines = keywords.ToArray();
        Reply(new SmtpReply(250, null, lines));
    }

    /// <summary>STARTTLS on a TLS listener in clear text (the table checked): the handshake follows the 220.</summary>
    internal AfterLine OnStartTls()
    {
        Reply(new SmtpReply(220, "2.0.0", "Ready to start TLS"), countError: false);
        return AfterLine.StartTls;
    }

    /// <summary>Runs the server handshake over the connection; false means it failed and the connection must close
    /// (no reply can be sent: the client is no longer speaking clear text).</summary>
    private async ValueTask<bool> StartTlsAsync(CancellationToken aborted)
    {
        if (await _connection.UpgradeToTlsAsync(aborted) is { } failure)
        {
            LogTlsFailed(SessionId, failure);
            _closeReason = "TLS handshake failed";
            _spanFailure = "TLS handshake failed: " + failure;
            _closing = true;
            return false;
        }
        // RFC 3207 4.2: forget everything learnt from the client in clear text; it must EHLO again.
        HeloName = null;
        IsExtended = false;
        _authenticatedUser = null;
        _skippingLongLine = false;
        EndTransaction();
        LogTlsEstablished(SessionId, Tls!.Protocol, Tls.Cipher);
        _ctx.Metrics?.TlsEstablished(ListenerName, Tls.Protocol);
        return true;
    }
}
