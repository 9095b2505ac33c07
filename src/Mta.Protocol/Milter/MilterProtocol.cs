// The Sendmail milter protocol's constants (libmilter mfdef.h, Postfix milter8.c): command and reply codes, flags, macro stages.
namespace Mta.Protocol.Milter;

/// <summary>Commands the MTA sends to a milter (SMFIC_*), one octet after the packet length.</summary>
public static class MilterCommand
{
    public const byte Abort = (byte)'A';
    public const byte Body = (byte)'B';
    public const byte Connect = (byte)'C';
    public const byte Macro = (byte)'D';
    public const byte EndOfMessage = (byte)'E';
    public const byte Helo = (byte)'H';
    public const byte QuitNewConnection = (byte)'K';
    public const byte Header = (byte)'L';
    public const byte Mail = (byte)'M';
    public const byte EndOfHeaders = (byte)'N';
    public const byte OptionNegotiation = (byte)'O';
    public const byte Quit = (byte)'Q';
    public const byte Rcpt = (byte)'R';
    public const byte Data = (byte)'T';
    public const byte Unknown = (byte)'U';
}

/// <summary>Replies a milter sends (SMFIR_*).</summary>
public static class MilterReplyCode
{
    public const byte AddRecipient = (byte)'+';
    public const byte DeleteRecipient = (byte)'-';
    public const byte AddRecipientWithArgs = (byte)'2';
    public const byte Shutdown = (byte)'4';
    public const byte Accept = (byte)'a';
    public const byte ReplaceBody = (byte)'b';
    public const byte Continue = (byte)'c';
    public const byte Discard = (byte)'d';
    public const byte ChangeSender = (byte)'e';
    public const byte ConnectionFailure = (byte)'f';
    public const byte AddHeader = (byte)'h';
    public const byte InsertHeader = (byte)'i';
    public const byte SetSymbolList = (byte)'l';
    public const byte ChangeHeader = (byte)'m';
    public const byte Progress = (byte)'p';
    public const byte Quarantine = (byte)'q';
    public const byte Reject = (byte)'r';
    public const byte Skip = (byte)'s';
    public const byte TempFail = (byte)'t';
    public const byte ReplyCode = (byte)'y';
    /// <summary>The negotiation reply carries the command's own code.</summary>
    public const byte OptionNegotiation = MilterCommand.OptionNegotiation;
}

/// <summary>The message changes a milter may ask for (SMFIF_*), offered by the MTA and requested in negotiation.</summary>
[Flags]
public enum MilterActions : uint
{
    None = 0,
    AddHeaders = 1 << 0,
    ChangeBody = 1 << 1,
    AddRecipients = 1 << 2,
    DeleteRecipients = 1 << 3,
    ChangeHeaders = 1 << 4,
    Quarantine = 1 << 5,
    ChangeSender = 1 << 6,
    AddRecipientsWithArgs = 1 << 7,
    SetSymbolList = 1 << 8,
    /// <summary>Everything Postfix offers, and so this client.</summary>
    All = AddHeaders | ChangeBody | AddRecipients | DeleteRecipients | ChangeHeaders | Quarantine | ChangeSender | AddRecipientsWithArgs | SetSymbolList,
}

/// <summary>Protocol steps (SMFIP_*): stages a milter does not want (NO*), stages it will not answer (NR_*), and extensions.</summary>
[Flags]
public enum MilterProtocolFlags : uint
{
    None = 0,
    NoConnect = 1 << 0,
    NoHelo = 1 << 1,
    NoMail = 1 << 2,
    NoRcpt = 1 << 3,
    NoBody = 1 << 4,
    NoHeaders = 1 << 5,
    NoEndOfHeaders = 1 << 6,
    NoReplyHeader = 1 << 7,
    NoUnknown = 1 << 8,
    NoData = 1 << 9,
    /// <summary>The MTA understands SMFIR_SKIP (stop sending body chunks).</summary>
    Skip = 1 << 10,
    /// <summary>The milter wants to see recipients the MTA rejected.</summary>
    RejectedRecipients = 1 << 11,
    NoReplyConnect = 1 << 12,
    NoReplyHelo = 1 << 13,
    NoReplyMail = 1 << 14,
    NoReplyRcpt = 1 << 15,
    NoReplyData = 1 << 16,
    NoReplyUnknown = 1 << 17,
    NoReplyEndOfHeaders = 1 << 18,
    NoReplyBody = 1 << 19,
    /// <summary>Header values are sent with their leading space.</summary>
    HeaderLeadingSpace = 1 << 20,

    /// <summary>The stages a version 2 MTA may be asked to skip.</summary>
    Version2 = NoConnect | NoHelo | NoMail | NoRcpt | NoBody | NoHeaders | NoEndOfHeaders,
    Version3 = Version2 | NoUnknown,
    Version4 = Version3 | NoData,
    /// <summary>Everything of version 6, as Postfix offers it.</summary>
    Version6 = Version4 | Skip | RejectedRecipients | NoReplyConnect | NoReplyHelo | NoReplyMail | NoReplyRcpt | NoReplyData
        | NoReplyUnknown | NoReplyHeader | NoReplyEndOfHeaders | NoReplyBody | HeaderLeadingSpace,
}

/// <summary>Macro stages (SMFIM_*) a milter names in its negotiation reply to choose the macros it gets.</summary>
public enum MilterMacroStage
{
    Connect = 0,
    Helo = 1,
    Mail = 2,
    Rcpt = 3,
    Data = 4,
    EndOfMessage = 5,
    EndOfHeaders = 6,
}

/// <summary>Address families in SMFIC_CONNECT (SMFIA_*).</summary>
public static class MilterAddressFamily
{
    public const byte Unknown = (byte)'U';
    public const byte Unix = (byte)'L';
    public const byte Inet = (byte)'4';
    public const byte Inet6 = (byte)'6';
}

/// <summary>Protocol limits.</summary>
public static class MilterLimits
{
    /// <summary>The most body octets in one SMFIC_BODY packet (Postfix's MILTER_CHUNK_SIZE, libmilter's MILTER_CHUNK_SIZE).</summary>
    public const int BodyChunk = 65535;

    /// <summary>The largest packet accepted from a peer: a body replacement chunk and its code, with room to spare
    /// (libmilter refuses more than 1 MiB too, MILTER_MAX_DATA_SIZE's largest setting).</summary>
    public const int MaxPacket = 1024 * 1024;

    /// <summary>The protocol version spoken: 6, as Postfix and Sendmail 8.14+.</summary>
    public const uint Version = 6;
}
