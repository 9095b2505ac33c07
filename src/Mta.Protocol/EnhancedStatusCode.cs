// RFC 3463 enhanced status codes (class.subject.detail) and the well-known values Mta replies with.
namespace Mta.Protocol;

/// <summary>An RFC 3463 enhanced status code such as <c>5.1.1</c>.</summary>
/// <param name="Class">2 (success), 4 (persistent transient failure) or 5 (permanent failure).</param>
/// <param name="Subject">0 to 999.</param>
/// <param name="Detail">0 to 999.</param>
public readonly record struct EnhancedStatusCode(int Class, int Subject, int Detail)
{
    /// <summary>2.0.0 Other undefined status (plain success).</summary>
    public static readonly EnhancedStatusCode Ok = new(2, 0, 0);
    /// <summary>2.1.0 Other address status (sender accepted).</summary>
    public static readonly EnhancedStatusCode OriginatorValid = new(2, 1, 0);
    /// <summary>2.1.5 Destination address valid.</summary>
    public static readonly EnhancedStatusCode DestinationValid = new(2, 1, 5);
    /// <summary>2.6.0 Other or undefined media error (used for "message accepted").</summary>
    public static readonly EnhancedStatusCode MessageAccepted = new(2, 6, 0);
    /// <summary>2.7.0 Authentication succeeded (RFC 4954).</summary>
    public static readonly EnhancedStatusCode AuthenticationSucceeded = new(2, 7, 0);

    /// <summary>5.1.0 Other address status.</summary>
    public static readonly EnhancedStatusCode OtherAddressStatus = new(5, 1, 0);
    /// <summary>5.1.1 Bad destination mailbox address.</summary>
    public static readonly EnhancedStatusCode BadDestinationMailbox = new(5, 1, 1);
    /// <summary>5.1.2 Bad destination system address.</summary>
    public static readonly EnhancedStatusCode BadDestinationSystem = new(5, 1, 2);
    /// <summary>5.1.3 Bad destination mailbox address syntax.</summary>
    public static readonly EnhancedStatusCode BadDestinationSyntax = new(5, 1, 3);
    /// <summary>5.1.4 Destination mailbox address ambiguous.</summary>
    public static readonly EnhancedStatusCode DestinationAmbiguous = new(5, 1, 4);
    /// <summary>5.1.6 Destination mailbox has moved.</summary>
    public static readonly EnhancedStatusCode DestinationMoved = new(5, 1, 6);
    /// <summary>5.1.7 Bad sender's mailbox address syntax.</summary>
    public static readonly EnhancedStatusCode BadSenderSyntax = new(5, 1, 7);
    /// <summary>5.1.8 Bad sender's system address.</summary>
    public static readonly EnhancedStatusCode BadSenderSystem = new(5, 1, 8);

    /// <summary>5.2.1 Mailbox disabled, not accepting messages.</summary>
    public static readonly EnhancedStatusCode MailboxDisabled = new(5, 2, 1);
    /// <summary>4.2.2 Mailbox full.</summary>
    public static readonly EnhancedStatusCode MailboxFull = new(4, 2, 2);
    /// <summary>5.2.3 Message length exceeds administrative limit.</summary>
    public static readonly EnhancedStatusCode MessageLengthExceedsLimit = new(5, 2, 3);

    /// <summary>4.3.0 Other or undefined mail system status (local error).</summary>
    public static readonly EnhancedStatusCode LocalError = new(4, 3, 0);
    /// <summary>4.3.1 Mail system full.</summary>
    public static readonly EnhancedStatusCode SystemFull = new(4, 3, 1);
    /// <summary>4.3.2 System not accepting network messages.</summary>
    public static readonly EnhancedStatusCode SystemNotAccepting = new(4, 3, 2);
    /// <summary>5.3.4 Message too big for system.</summary>
    public static readonly EnhancedStatusCode MessageTooBig = new(5, 3, 4);

    /// <summary>4.4.1 No answer from host.</summary>
    public static readonly EnhancedStatusCode NoAnswerFromHost = new(4, 4, 1);
    /// <summary>4.4.2 Bad connection.</summary>
    public static readonly EnhancedStatusCode BadConnection = new(4, 4, 2);
    /// <summary>4.4.3 Directory server failure (e.g. DNS).</summary>
    public static readonly EnhancedStatusCode RoutingServerFailure = new(4, 4, 3);
    /// <summary>5.4.4 Unable to route.</summary>
    public static readonly EnhancedStatusCode UnableToRoute = new(5, 4, 4);
    /// <summary>4.4.5 Mail system congestion.</summary>
    public static readonly EnhancedStatusCode Congestion = new(4, 4, 5);
    /// <summary>5.4.6 Routing loop detected.</summary>
    public static readonly EnhancedStatusCode RoutingLoop = new(5, 4, 6);
    /// <summary>4.4.7 Delivery time expired.</summary>
    public static readonly EnhancedStatusCode DeliveryTimeExpired = new(4, 4, 7);

    /// <summary>5.5.0 Other or undefined protocol status.</summary>
    public static readonly EnhancedStatusCode ProtocolError = new(5, 5, 0);
    /// <summary>5.5.1 Invalid command (also: command out of sequence).</summary>
    public static readonly EnhancedStatusCode InvalidCommand = new(5, 5, 1);
    /// <summary>5.5.1 Bad sequence of commands (same code as <see cref="InvalidCommand"/>).</summary>
    public static readonly EnhancedStatusCode BadSequence = new(5, 5, 1);
    /// <summary>5.5.2 Syntax error.</summary>
    public static readonly EnhancedStatusCode SyntaxError = new(5, 5, 2);
    /// <summary>4.5.3 Too many recipients (transient: the client sends the rest in another transaction).</summary>
    public static readonly EnhancedStatusCode TooManyRecipients = new(4, 5, 3);
    /// <summary>5.5.3 Too many recipients (permanent).</summary>
    public static readonly EnhancedStatusCode TooManyRecipientsPermanent = new(5, 5, 3);
    /// <summary>5.5.4 Invalid command arguments.</summary>
    public static readonly EnhancedStatusCode InvalidCommandArguments = new(5, 5, 4);
    /// <summary>5.5.5 Wrong protocol version.</summary>
    public static readonly EnhancedStatusCode WrongProtocolVersion = new(5, 5, 5);
    /// <summary>5.5.6 Line too long (RFC 4954 names it for AUTH exchanges; Mta uses it for any over-long line).</summary>
    public static readonly EnhancedStatusCode LineTooLong = new(5, 5, 6);

    /// <summary>5.6.0 Other or undefined media error.</summary>
    public static readonly EnhancedStatusCode MediaError = new(5, 6, 0);
    /// <summary>5.6.1 Media not supported.</summary>
    public static readonly EnhancedStatusCode MediaNotSupported = new(5, 6, 1);
    /// <summary>5.6.3 Conversion required but not supported.</summary>
    public static readonly EnhancedStatusCode ConversionNotSupported = new(5, 6, 3);
    /// <summary>5.6.7 Non-ASCII addresses not permitted for that sender/recipient (RFC 6531/6533).</summary>
    public static readonly EnhancedStatusCode NonAsciiAddressNotPermitted = new(5, 6, 7);

    /// <summary>5.7.0 Other or undefined security status (e.g. "must issue STARTTLS first", "authentication required").</summary>
    public static readonly EnhancedStatusCode SecurityError = new(5, 7, 0);
    /// <summary>4.7.0 Temporary security failure (e.g. temporary authentication failure).</summary>
    public static readonly EnhancedStatusCode TemporarySecurityError = new(4, 7, 0);
    /// <summary>5.7.1 Delivery not authorized, message refused (relay denied).</summary>
    public static readonly EnhancedStatusCode RelayDenied = new(5, 7, 1);
    /// <summary>5.7.1 Delivery not authorized (same code as <see cref="RelayDenied"/>).</summary>
    public static readonly EnhancedStatusCode DeliveryNotAuthorized = new(5, 7, 1);
    /// <summary>5.7.8 Authentication credentials invalid (RFC 4954).</summary>
    public static readonly EnhancedStatusCode AuthenticationCredentialsInvalid = new(5, 7, 8);
    /// <summary>5.7.9 Authentication mechanism too weak (RFC 4954).</summary>
    public static readonly EnhancedStatusCode AuthenticationMechanismTooWeak = new(5, 7, 9);
    /// <summary>5.7.11 Encryption required for requested authentication mechanism (RFC 4954).</summary>
    public static readonly EnhancedStatusCode EncryptionRequiredForMechanism = new(5, 7, 11);

    /// <summary>The same subject and detail with another class, e.g. 5.3.4 as 4.3.4.</summary>
    public EnhancedStatusCode WithClass(int @class) => new(@class, Subject, Detail);

    /// <summary>Parses <c>class.subject.detail</c>: class 2, 4 or 5; subject and detail 1 to 3 digits.</summary>
    public static bool TryParse(ReadOnlySpan<char> s, out EnhancedStatusCode code)
    {
        code = default;
        if (s.Length < 5 || s[0] is not ('2' or '4' or '5') || s[1] != '.') return false;
        var rest = s[2..];
        var dot = rest.IndexOf('.');
        if (dot < 1 || dot > 3) return false;
        if (!TryDigits(rest[..dot], out var subject)) return false;
        var detailText = rest[(dot + 1)..];
        if (detailText.Length is < 1 or > 3 || !TryDigits(detailText, out var detail)) return false;
        code = new EnhancedStatusCode(s[0] - '0', subject, detail);
        return true;
    }

    private static bool TryDigits(ReadOnlySpan<char> s, out int value)
    {
        value = 0;
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c)) return false;
            value = value * 10 + (c - '0');
        }
        // RFC 3463: no leading zeros except for the value 0 itself.
        return s.Length == 1 || s[0] != '0';
    }

    /// <summary>The code as <c>class.subject.detail</c>.</summary>
    public override string ToString() => $"{Class}.{Subject}.{Detail}";
}
