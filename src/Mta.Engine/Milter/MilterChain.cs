// A session's milters in their configured order: each stage goes to each in turn, measured and logged as a hook handler.
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;
using Mta.Protocol.Milter;

namespace Mta.Engine.Milter;

/// <summary>The stage's outcome: the deciding milter's answer, or continue.</summary>
internal readonly record struct MilterOutcome(MilterAnswer Answer, string? Milter)
{
    public static readonly MilterOutcome Continue = new(MilterAnswer.Continue, null);
}

/// <summary>A change with the milter that asked for it.</summary>
internal readonly record struct MilterEdit(string Milter, MilterChange Change);

/// <summary>
/// The milters of one SMTP session (the listener's <c>Milters</c>, in order), as Postfix's milter.c chains them: a
/// stage goes to each milter in turn until one decides (refuses, discards, shuts down); one that accepts is done with
/// the message or session and the next one is asked. Every call is measured in the hook metrics
/// (<c>mta.hooks.duration</c>, <c>mta.hooks.failures</c>) with the stage's hook name and the milter's name as handler,
/// and every decision and failure is logged with the milter's name and the queue id.
/// </summary>
internal sealed partial class MilterChain : IAsyncDisposable
{
    private readonly MilterClient[] _clients;
    private readonly ILogger _logger;
    private readonly Telemetry.MtaMetrics? _metrics;
    private readonly string _sessionId;
    private readonly Func<string> _queueId;

    public MilterChain(IReadOnlyList<(string Name, MilterDefinition Definition, MilterAddress Address)> milters, Func<string, string?> macro,
        ILogger logger, Telemetry.MtaMetrics? metrics, string sessionId, Func<string> queueId)
    {
        _logger = logger;
        _metrics = metrics;
        _sessionId = sessionId;
        _queueId = queueId;
        _clients = milters.Select(m => new MilterClient(m.Name, m.Definition, m.Address, macro, Failed)).ToArray();
    }

    /// <summary>Opens every milter's connection and sends connect (SMFIC_CONNECT).</summary>
    public async ValueTask<MilterOutcome> ConnectAsync(string hostName, byte family, ushort port, string address, CancellationToken cancellationToken)
    {
        // Opened together: a session waits for the slowest milter's connect, not for their sum.
        await Task.WhenAll(_clients.Select(c => c.OpenAsync(cancellationToken).AsTask())).ConfigureAwait(false);
        foreach (var client in _clients)
            if (client.Version > 0) LogNegotiated(client.Name, _sessionId, client.Version, (uint)client.Actions, (uint)client.Steps);
        return await RunAsync("ConnectContext", (hostName, family, port, address),
            static (c, a, t) => c.ConnectAsync(a.hostName, a.family, a.port, a.address, t), cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<MilterOutcome> HeloAsync(string name, CancellationToken cancellationToken) =>
        RunAsync("HeloContext", name, static (c, a, t) => c.HeloAsync(a, t), cancellationToken);

    public ValueTask<MilterOutcome> MailAsync(string[] arguments, CancellationToken cancellationToken) =>
        RunAsync("MailContext", arguments, static (c, a, t) => c.MailAsync(a, t), cancellationToken);

    public ValueTask<MilterOutcome> RcptAsync(string[] arguments, CancellationToken cancellationToken) =>
        RunAsync("RcptContext", arguments, static (c, a, t) => c.RcptAsync(a, t), cancellationToken);

    /// <summary>A refused recipient, to the milters that asked for them; their answers change nothing.</summary>
    public async ValueTask RejectedRcptAsync(string[] arguments, CancellationToken cancellationToken)
    {
        foreach (var client in _clients)
            if ((client.Steps & MilterProtocolFlags.RejectedRecipients) != 0)
                await MeasureAsync("RcptContext", client, arguments, static (c, a, t) => c.RejectedRcptAsync(a, t), cancellationToken).ConfigureAwait(false);
    }

    public ValueTask<MilterOutcome> DataAsync(CancellationToken cancellationToken) =>
        RunAsync("DataContext", 0, static (c, _, t) => c.DataAsync(t), cancellationToken);

    public ValueTask<MilterOutcome> UnknownAsync(string line, CancellationToken cancellationToken) =>
        RunAsync("UnrecognizedCommandContext", line, static (c, a, t) => c.UnknownAsync(a, t), cancellationToken);

    /// <summary>
    /// The message to each milter in turn. As in Postfix, whose milters read the queue file the earlier ones edited,
    /// each milter sees the message with the earlier milters' changes: <paramref name="view"/> gives the message as it
    /// stands, and <paramref name="apply"/> takes each milter's changes (checked against what it negotiated) before the
    /// next one is asked. A milter that refuses the message has only its quarantine applied. Returns the first decision.
    /// </summary>
    public async ValueTask<MilterOutcome> MessageAsync(Func<(IReadOnlyList<KeyValuePair<string, string>> Headers, Func<Stream> OpenBody)> view,
        Action<List<MilterEdit>> apply, CancellationToken cancellationToken)
    {
        var changes = new List<MilterChange>();
        foreach (var client in _clients)
        {
            changes.Clear();
            var edits = new List<MilterEdit>();
            var (headers, openBody) = view();
            var answer = await MeasureAsync("DataPostContext", client, (headers, openBody, changes),
                static (c, a, t) => c.MessageAsync(a.headers, a.openBody, a.changes, t), cancellationToken).ConfigureAwait(false);
            // A refused message keeps only its quarantine: nothing else of it is stored.
            var leadingSpace = (client.Steps & MilterProtocolFlags.HeaderLeadingSpace) != 0;
            foreach (var change in changes)
            {
                if (answer.Verdict is MilterVerdict.Refuse or MilterVerdict.Shutdown && change is not MilterChange.Quarantine) continue;
                if (!Negotiated(client.Actions, change))
                {
                    LogChangeRefused(client.Name, _queueId(), change.GetType().Name);
                    continue;
                }
                edits.Add(new MilterEdit(client.Name, leadingSpace ? change : WithLeadingSpace(change)));
            }
            if (edits.Count > 0) apply(edits);
            if (answer.IsDecisive) return new MilterOutcome(answer, client.Name);
        }
        return MilterOutcome.Continue;
    }

    /// <summary>SMFIC_ABORT to every milter in a transaction (buffered; it goes out with the next packet).</summary>
    public void Abort()
    {
        foreach (var client in _clients) client.Abort();
    }

    /// <summary>SMFIC_QUIT to every milter still connected, and close.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients) await client.QuitAsync().ConfigureAwait(false);
    }

    private static bool Negotiated(MilterActions actions, MilterChange change) => change switch
    {
        MilterChange.AddHeader => (actions & MilterActions.AddHeaders) != 0,
        // Postfix lets SMFIF_ADDHDRS cover insertion too (libmilter's smfi_insheader needs SMFIF_ADDHDRS).
        MilterChange.InsertHeader => (actions & MilterActions.AddHeaders) != 0,
        MilterChange.ChangeHeader => (actions & MilterActions.ChangeHeaders) != 0,
        MilterChange.ReplaceBody => (actions & MilterActions.ChangeBody) != 0,
        MilterChange.AddRecipient { Arguments: null } => (actions & (MilterActions.AddRecipients | MilterActions.AddRecipientsWithArgs)) != 0,
        MilterChange.AddRecipient => (actions & MilterActions.AddRecipientsWithArgs) != 0,
        MilterChange.DeleteRecipient => (actions & MilterActions.DeleteRecipients) != 0,
        MilterChange.ChangeSender => (actions & MilterActions.ChangeSender) != 0,
        MilterChange.Quarantine => (actions & MilterActions.Quarantine) != 0,
        _ => false,
    };

    // Without SMFIP_HDR_LEADSPC a milter gives the value without the space after the colon; Postfix puts one back.
    private static MilterChange WithLeadingSpace(MilterChange change) => change switch
    {
        MilterChange.AddHeader h => h with { Value = " " + h.Value },
        MilterChange.InsertHeader h => h with { Value = " " + h.Value },
        MilterChange.ChangeHeader h when h.Value.Length > 0 => h with { Value = " " + h.Value },
        _ => change,
    };

    private async ValueTask<MilterOutcome> RunAsync<TArg>(string hook, TArg arg, Func<MilterClient, TArg, CancellationToken, ValueTask<MilterAnswer>> call,
        CancellationToken cancellationToken)
    {
        foreach (var client in _clients)
        {
            var answer = await MeasureAsync(hook, client, arg, call, cancellationToken).ConfigureAwait(false);
            if (answer.IsDecisive) return new MilterOutcome(answer, client.Name);
        }
        return MilterOutcome.Continue;
    }

    private async ValueTask<MilterAnswer> MeasureAsync<TArg>(string hook, MilterClient client, TArg arg,
        Func<MilterClient, TArg, CancellationToken, ValueTask<MilterAnswer>> call, CancellationToken cancellationToken)
    {
        var metrics = _metrics is { HooksEnabled: true } m ? m : null;
        var started = metrics?.HookDurationEnabled == true ? Stopwatch.GetTimestamp() : 0;
        var answer = await call(client, arg, cancellationToken).ConfigureAwait(false);
        metrics?.HookCall(new Telemetry.HookTags(hook, client.Name), started, answer.Failed);
        LogTrace(client.Name, hook, _sessionId, answer);
        if (answer.Verdict != MilterVerdict.Continue) LogDecided(client.Name, hook, _sessionId, _queueId(), answer);
        return answer;
    }

    private void Failed(MilterClient client, MilterFailure failure, string reason)
    {
        switch (failure)
        {
            case MilterFailure.TimedOut:
                LogTimedOut(client.Name, _sessionId, _queueId(), reason, client.DefaultAction);
                break;
            case MilterFailure.ProtocolError:
                LogProtocolError(client.Name, _sessionId, _queueId(), reason, client.DefaultAction);
                break;
            default:
                LogUnavailable(client.Name, _sessionId, _queueId(), reason, client.DefaultAction);
                break;
        }
    }

    [LoggerMessage(EventId = LogEvents.Milter.Decided, Level = LogLevel.Information, Message = "milter={Milter} stage={Hook} session={SessionId} id={QueueId}: {Answer}")]
    private partial void LogDecided(string milter, string hook, string sessionId, string queueId, MilterAnswer answer);

    [LoggerMessage(EventId = LogEvents.Milter.Trace, Level = LogLevel.Debug, Message = "Hook {Hook} milter {Milter} in session {SessionId}: {Answer}")]
    private partial void LogTrace(string milter, string hook, string sessionId, MilterAnswer answer);

    [LoggerMessage(EventId = LogEvents.Milter.Unavailable, Level = LogLevel.Warning, Message = "milter={Milter} session={SessionId} id={QueueId} unavailable: {Reason}; default action {DefaultAction}")]
    private partial void LogUnavailable(string milter, string sessionId, string queueId, string reason, MilterDefaultAction defaultAction);

    [LoggerMessage(EventId = LogEvents.Milter.TimedOut, Level = LogLevel.Warning, Message = "milter={Milter} session={SessionId} id={QueueId} timed out: {Reason}; default action {DefaultAction}")]
    private partial void LogTimedOut(string milter, string sessionId, string queueId, string reason, MilterDefaultAction defaultAction);

    [LoggerMessage(EventId = LogEvents.Milter.ProtocolError, Level = LogLevel.Warning, Message = "milter={Milter} session={SessionId} id={QueueId} broke the protocol: {Reason}; default action {DefaultAction}")]
    private partial void LogProtocolError(string milter, string sessionId, string queueId, string reason, MilterDefaultAction defaultAction);

    [LoggerMessage(EventId = LogEvents.Milter.Negotiated, Level = LogLevel.Debug, Message = "milter={Milter} session={SessionId} negotiated version {Version} actions 0x{Actions:x} protocol 0x{Protocol:x}")]
    private partial void LogNegotiated(string milter, string sessionId, uint version, uint actions, uint protocol);

    [LoggerMessage(EventId = LogEvents.Milter.ChangeNotNegotiated, Level = LogLevel.Warning, Message = "milter={Milter} id={QueueId} asked for {Change} without negotiating it; ignored")]
    private partial void LogChangeRefused(string milter, string queueId, string change);
}
