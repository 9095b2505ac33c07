// What the test milter does, from its command line: where it listens, what it records, and its answer per stage.
using System.Globalization;
using Mta.Protocol.Milter;

namespace Mta.MilterTestServer;

/// <summary>The test milter's behaviour. By default it negotiates nothing special and answers continue to everything.</summary>
public sealed class TestMilterOptions
{
    public const string Usage = """
        mta-milter-test --listen inet:127.0.0.1:PORT|unix:/PATH [options]
          A milter (Sendmail milter protocol 6) for tests and benchmarks: a no-op that answers continue to everything
          unless told otherwise. Prints "listening on ADDRESS" once it accepts connections (PORT 0: any free port).
          --record FILE                 append every command and its macros to FILE, one JSON object a line
          --at STAGE=ACTION             the reply at a stage (repeatable). STAGE: connect helo mail rcpt data header
                                        eoh body eom unknown. ACTION: continue accept reject tempfail discard
                                        shutdown connfail skip 'reply:550 5.7.1 text' (CRLF for \r\n) sleep:MS
                                        (then continue) progress:MS (progress replies for MS, then continue)
          --only TEXT                   decide at helo, mail and rcpt only when the argument contains TEXT, and later
                                        in the message only when a MAIL or RCPT argument of it did
          --add-header 'Name: value'    at the end of message (so for each change below)
          --insert-header 'N:Name: value'
          --change-header 'N:Name: value'   (an empty value deletes the Nth field of that name)
          --replace-body TEXT           (\n becomes CRLF)
          --add-rcpt ADDRESS  --add-rcpt-par 'ADDRESS ARGS'  --del-rcpt ADDRESS
          --change-from ADDRESS  or  'ADDRESS ARGS'
          --quarantine REASON
          --protocol NAMES              SMFIP flags asked for, comma separated: NoConnect NoHelo NoMail NoRcpt NoBody
                                        NoHeaders NoEndOfHeaders NoUnknown NoData NoReplyConnect ... HeaderLeadingSpace
          --actions NAMES               SMFIF actions asked for besides those the changes need (All for every one)
          --macros STAGE=NAMES          the macros wanted at a stage (SMFIR_SETSYMLIST), e.g. connect='{client_addr} j'
          --version N                   the protocol version answered (default 6)
        """;

    public string Listen { get; set; } = "inet:127.0.0.1:0";
    public string? RecordFile { get; set; }
    public Dictionary<string, string> Actions { get; } = new(StringComparer.OrdinalIgnoreCase);
    public string? Only { get; set; }
    public List<(byte Code, string[] Values, uint Index)> Changes { get; } = [];
    public MilterProtocolFlags Protocol { get; set; }
    public MilterActions ExtraActions { get; set; }
    public Dictionary<MilterMacroStage, string> Macros { get; } = [];
    public uint Version { get; set; } = MilterLimits.Version;

    /// <summary>The actions negotiated: those the changes need, and any asked for.</summary>
    public MilterActions NegotiatedActions
    {
        get
        {
            var actions = ExtraActions;
            foreach (var (code, _, _) in Changes)
                actions |= code switch
                {
                    MilterReplyCode.AddHeader or MilterReplyCode.InsertHeader => MilterActions.AddHeaders,
                    MilterReplyCode.ChangeHeader => MilterActions.ChangeHeaders,
                    MilterReplyCode.ReplaceBody => MilterActions.ChangeBody,
                    MilterReplyCode.AddRecipient => MilterActions.AddRecipients,
                    MilterReplyCode.AddRecipientWithArgs => MilterActions.AddRecipientsWithArgs,
                    MilterReplyCode.DeleteRecipient => MilterActions.DeleteRecipients,
                    MilterReplyCode.ChangeSender => MilterActions.ChangeSender,
                    MilterReplyCode.Quarantine => MilterActions.Quarantine,
                    _ => MilterActions.None,
                };
            if (Macros.Count > 0) actions |= MilterActions.SetSymbolList;
            return actions;
        }
    }

    /// <summary>Parses the command line; throws <see cref="FormatException"/> naming the bad option.</summary>
    public static TestMilterOptions Parse(IReadOnlyList<string> args)
    {
        var o = new TestMilterOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var option = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new FormatException(option + " needs a value");
            switch (option)
            {
                case "--listen": o.Listen = Value(); break;
                case "--record": o.RecordFile = Value(); break;
                case "--only": o.Only = Value(); break;
                case "--version": o.Version = uint.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--at":
                    var at = Value().Split('=', 2);
                    if (at.Length != 2) throw new FormatException("--at takes STAGE=ACTION");
                    o.Actions[at[0]] = at[1];
                    break;
                case "--add-header": o.AddHeaderChange(MilterReplyCode.AddHeader, Value(), indexed: false); break;
                case "--insert-header": o.AddHeaderChange(MilterReplyCode.InsertHeader, Value(), indexed: true); break;
                case "--change-header": o.AddHeaderChange(MilterReplyCode.ChangeHeader, Value(), indexed: true); break;
                case "--replace-body": o.Changes.Add((MilterReplyCode.ReplaceBody, [Value().Replace("\\n", "\n").Replace("\r\n", "\n").Replace("\n", "\r\n")], 0)); break;
                case "--add-rcpt": o.Changes.Add((MilterReplyCode.AddRecipient, [Value()], 0)); break;
                case "--add-rcpt-par": o.Changes.Add((MilterReplyCode.AddRecipientWithArgs, SplitArguments(Value()), 0)); break;
                case "--del-rcpt": o.Changes.Add((MilterReplyCode.DeleteRecipient, [Value()], 0)); break;
                case "--change-from": o.Changes.Add((MilterReplyCode.ChangeSender, SplitArguments(Value()), 0)); break;
                case "--quarantine": o.Changes.Add((MilterReplyCode.Quarantine, [Value()], 0)); break;
                case "--protocol": o.Protocol = ParseFlags<MilterProtocolFlags>(Value()); break;
                case "--actions": o.ExtraActions = ParseFlags<MilterActions>(Value()); break;
                case "--macros":
                    var m = Value().Split('=', 2);
                    if (m.Length != 2 || !Enum.TryParse<MilterMacroStage>(StageName(m[0]), ignoreCase: true, out var stage))
                        throw new FormatException("--macros takes STAGE=NAMES (connect helo mail rcpt data eom eoh)");
                    o.Macros[stage] = m[1];
                    break;
                default: throw new FormatException("unknown option " + option);
            }
        }
        return o;
    }

    private static string StageName(string s) => s.ToLowerInvariant() switch { "eom" => "EndOfMessage", "eoh" => "EndOfHeaders", var x => x };

    private static string[] SplitArguments(string value)
    {
        var space = value.IndexOf(' ');
        return space < 0 ? [value] : [value[..space], value[(space + 1)..]];
    }

    private void AddHeaderChange(byte code, string value, bool indexed)
    {
        uint index = 0;
        if (indexed)
        {
            var colon = value.IndexOf(':');
            index = uint.Parse(value.AsSpan(0, colon), CultureInfo.InvariantCulture);
            value = value[(colon + 1)..];
        }
        var nameEnd = value.IndexOf(':');
        if (nameEnd <= 0) throw new FormatException($"'{value}' is not 'Name: value'");
        var headerValue = value[(nameEnd + 1)..];
        if (headerValue.StartsWith(' ')) headerValue = headerValue[1..];
        Changes.Add((code, [value[..nameEnd], headerValue.Replace("\\n", "\n")], index));
    }

    private static T ParseFlags<T>(string value) where T : struct, Enum
    {
        if (value.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
            return (T)Enum.ToObject(typeof(T), uint.Parse(value.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        ulong bits = 0;
        foreach (var name in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            bits |= Convert.ToUInt64(Enum.Parse<T>(name, ignoreCase: true), CultureInfo.InvariantCulture);
        return (T)Enum.ToObject(typeof(T), bits);
    }
}
