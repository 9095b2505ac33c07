// Every log event id of the engine, one nested class per area; operators filter logs on these ids, so they stay stable.
namespace Mta.Engine;

// A new event takes the next free id inside its area's range; docs/logging.md lists the ranges and every renumbering.
// LogEventIdTests fails the build's tests when an id repeats or a [LoggerMessage] uses a literal instead of a constant here.
internal static partial class LogEvents
{
    // 100-199: the hook pipeline (Extensibility/HookPipeline).
    internal static class Hooks
    {
        public const int HandlerFailed = 100;
        public const int HandlerTimedOut = 101;
    }

    // 200-299 and 880-899: the SMTP server and its sessions (Receiver/); 880-899 hold TURN, ETRN, the terminal check
    // and handed-in connections.
    internal static class Receiver
    {
        public const int SessionConnected = 200;
        public const int SessionDisconnected = 201;
        public const int Transaction = 202;
        public const int SpoolFailed = 203;
        public const int SessionFailed = 204;
        public const int TlsEstablished = 205;
        public const int TlsFailed = 206;
        public const int Refused = 207;
        public const int Authenticated = 210;
        public const int AuthFailed = 211;
        public const int AuthThrottled = 212;
        public const int AuthBusy = 213;
        public const int XClientRefused = 230;
        public const int XClient = 231;
        public const int TooSlow = 240;
        public const int Listening = 250;
        public const int AcceptFailed = 251;
        public const int ConnectionFailed = 253;
        public const int DrainTimedOut = 254;
        public const int ProxyNotTrusted = 255;
        public const int ProxyHeaderRefused = 256;
        public const int Proxied = 257;
        public const int DataBudgetExhausted = 260;
        public const int SpillFailed = 261;
        public const int StressEntered = 270;
        public const int StressLeft = 271;
        public const int AdmissionRefused = 272;
        public const int AdmissionRefusals = 273;
        public const int TurnRefused = 880;
        public const int TurnStarted = 881;
        public const int TurnFinished = 882;
        public const int TurnFailed = 883;
        public const int Etrn = 884;
        public const int EtrnRefused = 885;
        public const int TerminalCheckFailed = 886;
        public const int HandedInConnection = 887;
    }

    // 300-339: the durable spool (Spool/).
    internal static class Spool
    {
        public const int Recovered = 300;
        public const int TornRecord = 301;
        public const int BatchFailed = 302;
        public const int SegmentCreated = 303;
        public const int SegmentDeleted = 304;
        public const int SegmentDeleteFailed = 305;
        public const int JournalFailed = 306;
        public const int BodyLost = 308;
    }

    // 340-399: certificates and cipher policy (Tls/).
    internal static class Tls
    {
        public const int CertificateLoaded = 340;
        public const int CertificateGenerated = 341;
        public const int CertificateRegenerating = 342;
        public const int NoCipherPolicy = 343;
    }

    // 400-499: the queue manager, the delivery agents' own failures and bounces (Queue/, Delivery/, Bounces/).
    internal static class Queue
    {
        public const int Delivered = 400;
        public const int Deferred = 401;
        public const int Bounced = 402;
        public const int Started = 403;
        public const int AttemptFailed = 404;
        public const int WorkerFailed = 405;
        public const int AgentFailed = 406;
        public const int DsnFailed = 407;
        public const int LocalDeliveryFailed = 408;
        public const int IntakeFailed = 409;
        public const int Flushed = 410;
        public const int Deleted = 411;
        public const int BounceSent = 420;
        public const int LmtpFailed = 421;
    }

    // 500-599: plugin loading and in-server submission (Extensibility/Plugins/).
    internal static class Plugins
    {
        public const int Loaded = 500;
        public const int Skipped = 501;
        public const int Disabled = 502;
        public const int Submitted = 520;
    }

    // 600-699: the script host (Extensibility/Scripts/).
    internal static class Scripts
    {
        public const int Disabled = 600;
        public const int NoDirectory = 601;
        public const int Loaded = 602;
        public const int Reloaded = 603;
        public const int Added = 604;
        public const int Removed = 605;
        public const int ReloadFailed = 606;
        public const int WatchError = 607;
        public const int CacheFailed = 608;
    }

    // 700-749 and 780-799: the SMTP client (700-749) and remote delivery with its per-destination pipelines (780-799)
    // (Outbound/).
    internal static class Outbound
    {
        public const int Connected = 700;
        public const int HeloFallback = 701;
        public const int TlsEstablished = 702;
        public const int TlsFailed = 703;
        public const int Authenticated = 704;
        public const int AuthFailed = 705;
        public const int SessionFailed = 706;
        public const int Transaction = 707;
        public const int RefusedLocally = 708;
        public const int ResetFailed = 709;
        public const int QuitFailed = 710;
        public const int Closed = 711;
        public const int Command = 712;
        public const int Reply = 713;
        public const int ChunksSent = 714;
        public const int CircuitOpened = 780;
        public const int CircuitClosed = 781;
        public const int Retrying = 782;
        public const int TargetFailed = 790;
        public const int TlsFallback = 791;
    }

    // 750-779: DNS lookups and next-hop resolution (Dns/, Outbound/Routing/).
    internal static class Dns
    {
        public const int Servers = 750;
        public const int NextHopResolved = 751;
        public const int ImplicitMx = 752;
        public const int NullMx = 753;
        public const int ExchangeSkipped = 754;
        public const int TemporaryFailure = 755;
    }

    // 800-851: the control socket (Control/).
    internal static class Control
    {
        public const int Listening = 800;
        public const int RemovedStale = 801;
        public const int AcceptFailed = 802;
        public const int Connected = 803;
        public const int Busy = 804;
        public const int Command = 805;
        public const int BadRequest = 806;
        public const int UnknownCommand = 807;
        public const int HandlerFailed = 808;
        public const int Idle = 809;
        public const int ConnectionLost = 810;
        public const int ConnectionFailed = 811;
        public const int Stopped = 812;
        public const int DeleteFailed = 813;
        public const int BusyUser = 850;
        public const int Forbidden = 851;
    }

    // 852-879: terminal notification sinks (Terminal/).
    internal static class Terminal
    {
        public const int SinkFailed = 852;
        public const int SinkTimedOut = 853;
        public const int Shown = 854;
        public const int Attached = 855;
        public const int Detached = 856;
        public const int Dropped = 857;
        public const int AttachRefused = 858;
        public const int UtmpUnreadable = 859;
        public const int TtyWriteFailed = 860;
    }

    // 900-999: the SMTP AUTH user store (Auth/).
    internal static class Auth
    {
        public const int UsersLoaded = 900;
        public const int UsersLineMalformed = 901;
        public const int UsersLineRepeated = 902;
        public const int UsersUnreadable = 903;
    }

    // 1000-1399: mail authentication (Authentication/): SPF 1000-1099, DKIM 1100-1109, the session's verdicts 1110-1119,
    // ARC 1120-1139, the checks' budget 1140-1199, DMARC 1200-1299, DKIM and ARC signing 1300-1399.
    internal static class Authentication
    {
        public const int SpfResult = 1000;
        public const int SpfUnexpected = 1001;
        public const int DkimKeyLookup = 1100;
        public const int DkimResult = 1101;
        public const int DkimUnexpected = 1102;
        public const int ForgedFieldsRemoved = 1110;
        public const int DmarcRejected = 1111;
        public const int DmarcQuarantined = 1112;
        public const int DkimSignedIncoming = 1113;
        public const int VerificationFailed = 1114;
        public const int ArcResult = 1120;
        public const int ArcUnexpected = 1121;
        public const int CheckTimedOut = 1140;
        public const int DmarcResult = 1230;
        public const int DmarcInvalidRecord = 1231;
        public const int DmarcResolverThrew = 1232;
        public const int DkimKeyGroupReadable = 1350;
        public const int DkimUnparsable = 1351;
        public const int ArcNotSealed = 1352;
        public const int ArcSealed = 1353;
        public const int DkimSigningFailed = 1354;
    }

    // 1400-1499: address maps (Maps/): the shared file reloader 1400-1409, aliases 1410-1439, virtual domains,
    // canonical maps and relay domains 1440-1469.
    internal static class Maps
    {
        public const int Reloaded = 1400;
        public const int ReloadFailed = 1401;
        public const int AliasesLoaded = 1410;
        public const int AliasWarning = 1411;
        public const int AliasTarget = 1412;
        public const int AliasLoop = 1413;
        public const int AliasForwarded = 1414;
        public const int MapsLoaded = 1440;
        public const int AliasExpansionFailed = 1441;
        public const int RecipientVerified = 1442;
        public const int HeaderRewritten = 1443;
    }

    // 1500-1519: the maildrop pickup (locally submitted mail, sendmail(1)).
    internal static class Pickup
    {
        public const int Watching = 1500;
        public const int PickedUp = 1501;
        public const int Corrupt = 1502;
        public const int Failed = 1503;
        public const int Deferred = 1504;
        public const int RecipientRefused = 1505;
        public const int ScanFailed = 1506;
        public const int Disabled = 1507;
        public const int Bounced = 1508;
    }

    // 1520-1539: pipe and file delivery, delivery as a Unix user.
    internal static class LocalTargets
    {
        public const int PipeDelivered = 1520;
        public const int PipeFailed = 1521;
        public const int PipeTimedOut = 1522;
        public const int FileAppended = 1523;
        public const int FileFailed = 1524;
        public const int HomeMaildirUnusable = 1525;
        public const int PipeTransportUnknown = 1526;
    }

    // 1540-1559: reloading the configuration (SIGHUP, mta reload).
    internal static class Reload
    {
        public const int Reloaded = 1540;
        public const int Refused = 1541;
        public const int NeedsRestart = 1542;
        public const int Requested = 1543;
        public const int RollbackFailed = 1544;
        public const int Failed = 1545;
    }

    // 1560-1579: the service host (systemd, log formats).
    internal static class Host
    {
    }

    // 1580-1585: hook calls abandoned while still running, and handlers taken out of service for them.
    internal static class HookContainment
    {
        public const int Abandoned = 1580;
        public const int AbandonedEnded = 1581;
        public const int OutOfService = 1582;
        public const int BackInService = 1583;
        public const int Skipped = 1584;
    }

    // 1620-1639: script loading (top-level code under Scripts:LoadTimeout).
    internal static class ScriptLoads
    {
        public const int Abandoned = 1620;
    }

    // 1586-1605: the author's test harness (mta test, Mta.Testing).
    internal static class HookTrace
    {
        public const int Decided = 1586;
    }

    // 1710-1719: the per-message trail (docs/operations.md#logs): lines about one message that no other area writes.
    internal static class Trail
    {
        public const int Removed = 1710;
    }

    // 1720-1739: the web host (console, health, metrics scrape on Kestrel).
    internal static class Web
    {
        public const int Listening = 1720;
    }

    // 1640-1659: telemetry export (src/Mta.Web/Metrics): what is exported at start, and the SDK's own failures.
    internal static class Telemetry
    {
        public const int Exporting = 1640;
        public const int SdkProblem = 1641;
    }

    // 1660-1679: the operator's queue actions (hold, release) and the engine's read side for the console.
    internal static class QueueAdmin
    {
        public const int Held = 1660;
        public const int Released = 1661;
    }

    // 1700-1709: the server status (mta status, the console's overview history).
    internal static class Status
    {
        public const int SampleFailed = 1700;
    }

    // 1680-1699: the web console (logins and the operator's actions on the queue).
    internal static class WebConsole
    {
        public const int LoggedIn = 1680;
        public const int LoginFailed = 1681;
        public const int LoginBusy = 1682;
        public const int LoginBlocked = 1683;
        public const int LoggedOut = 1684;
        public const int Flushed = 1685;
        public const int Deleted = 1686;
        public const int Held = 1687;
        public const int Released = 1688;
        public const int CrossOriginRefused = 1689;
        public const int ActionForbidden = 1690;
    }
}
