// What a milter said at one stage, and the message changes it asked for at the end of the message.
namespace Mta.Engine.Milter;

/// <summary>A milter's decision at one stage (Postfix milter8.c's replies, as smtpd turns them into SMTP).</summary>
internal enum MilterVerdict
{
    /// <summary>SMFIR_CONTINUE, or no reply expected: go on.</summary>
    Continue,
    /// <summary>SMFIR_ACCEPT: this milter wants nothing more of the message (or, at connect and HELO, of the session).</summary>
    Accept,
    /// <summary>SMFIR_REJECT, SMFIR_TEMPFAIL, SMFIR_REPLYCODE, or the default action's reply: <see cref="MilterAnswer.Reply"/> says what.</summary>
    Refuse,
    /// <summary>SMFIR_DISCARD: take the message and drop it.</summary>
    Discard,
    /// <summary>SMFIR_SHUTDOWN or SMFIR_CONN_FAIL: 421 and close the session.</summary>
    Shutdown,
}

/// <summary>One stage's answer.</summary>
/// <param name="Verdict">The decision.</param>
/// <param name="Reply">For <see cref="MilterVerdict.Refuse"/>: the SMTP reply, <c>"550 5.7.1 text"</c>, lines separated by CRLF.</param>
/// <param name="Failed">The answer is the milter's default action: it could not be reached, overran or broke the protocol.</param>
internal readonly record struct MilterAnswer(MilterVerdict Verdict, string? Reply = null, bool Failed = false)
{
    public static readonly MilterAnswer Continue = new(MilterVerdict.Continue);

    /// <summary>Neither continue nor accept: the stage's outcome is this milter's.</summary>
    public bool IsDecisive => Verdict is not (MilterVerdict.Continue or MilterVerdict.Accept);

    public override string ToString() => Verdict == MilterVerdict.Refuse ? Reply!.Replace("\r\n", " / ") : Verdict.ToString().ToLowerInvariant();
}

/// <summary>A change a milter asked for at the end of the message; applied only when it negotiated the action.</summary>
internal abstract record MilterChange
{
    /// <summary>SMFIR_ADDHEADER: a field after the last one.</summary>
    public sealed record AddHeader(string Name, string Value) : MilterChange;
    /// <summary>SMFIR_INSHEADER: a field at <paramref name="Index"/> (0: the top).</summary>
    public sealed record InsertHeader(int Index, string Name, string Value) : MilterChange;
    /// <summary>SMFIR_CHGHEADER: the <paramref name="Index"/>th field of that name (1: the first) gets a new value, or goes when it is empty.</summary>
    public sealed record ChangeHeader(int Index, string Name, string Value) : MilterChange;
    /// <summary>SMFIR_REPLBODY, all chunks joined: the new body, CRLF line ends.</summary>
    public sealed record ReplaceBody(byte[] Body) : MilterChange;
    /// <summary>SMFIR_ADDRCPT and SMFIR_ADDRCPT_PAR: a recipient, with its ESMTP arguments if any.</summary>
    public sealed record AddRecipient(string Address, string? Arguments) : MilterChange;
    /// <summary>SMFIR_DELRCPT: the recipient removed.</summary>
    public sealed record DeleteRecipient(string Address) : MilterChange;
    /// <summary>SMFIR_CHGFROM: the new envelope sender, with its ESMTP arguments if any.</summary>
    public sealed record ChangeSender(string Address, string? Arguments) : MilterChange;
    /// <summary>SMFIR_QUARANTINE: the message is held, with this reason.</summary>
    public sealed record Quarantine(string Reason) : MilterChange;
}
