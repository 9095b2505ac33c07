// RSET, QUIT and the commands a hook may answer in full: NOOP, VRFY, EXPN, HELP and unknown verbs.
using Mta.Abstractions;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

internal sealed partial class SmtpSession
{
    internal async ValueTask OnRsetAsync(CancellationToken aborted)
    {
        await Hooks.RunAsync(new RsetContext(this), aborted);
        // RSET always succeeds (RFC 5321 4.1.1.5): a hook can observe it but not refuse it.
        EndTransaction();
        Reply(Ok);
    }

    internal async ValueTask OnQuitAsync(CancellationToken aborted)
    {
        await Hooks.RunAsync(new QuitContext(this), aborted);
        Reply(new SmtpReply(221, "2.0.0", $"{HostName} closing connection"), countError: false);
        _closeReason = "quit";
        _closing = true;
    }

    internal ValueTask OnNoopAsync(CancellationToken aborted) => SimpleAsync(new NoopContext(this), Ok, aborted);

    internal ValueTask OnVrfyAsync(string argument, CancellationToken aborted) =>
        SimpleAsync(new VrfyContext(this, argument), new SmtpReply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"), aborted);

    internal ValueTask OnExpnAsync(string argument, CancellationToken aborted) =>
        SimpleAsync(new ExpnContext(this, argument), new SmtpReply(252, "2.5.0", "Cannot EXPN list, but will accept message and attempt delivery"), aborted);

    internal ValueTask OnHelpAsync(string? topic, CancellationToken aborted) =>
        SimpleAsync(new HelpContext(this, topic), HelpText.For(topic, _ctx.TerminalsEnabled, OffersTurn, OffersEtrn, OffersChunking), aborted);

    internal async ValueTask OnUnknownAsync(UnknownCommand unknown, CancellationToken aborted)
    {
        var notRecognized = new SmtpReply(500, "5.5.2", "Command not recognized");
        var outcome = await Hooks.RunAsync(new UnrecognizedCommandContext(this, unknown.VerbText.ToUpperInvariant(), unknown.Line), aborted);
        if (!outcome.IsContinue)
        {
            Reply(FromHook(outcome, Ok));
            return;
        }
        // Milters see the command after the hooks; a refusal of theirs is the reply, else the usual 500.
        Reply(_milters is not null && MilterRefusal(await _milters.UnknownAsync(unknown.Line, aborted)) is { } milterRefusal ? milterRefusal : notRecognized);
    }
}
