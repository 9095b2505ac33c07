// Parses sendmail(1)'s command line as Postfix's sendmail does: getopt-style flags, then recipients.
namespace Mta.Sendmail;

/// <summary>What sendmail was asked to do.</summary>
public enum SendmailMode
{
    /// <summary><c>-bm</c> (the default): read a message from standard input and deliver it.</summary>
    Deliver,
    /// <summary><c>-bs</c>: speak SMTP on standard input and output.</summary>
    Smtp,
    /// <summary><c>-bp</c> or the name <c>mailq</c>: list the queue.</summary>
    ListQueue,
    /// <summary><c>-q</c> alone (or <c>-qR</c>site): deliver the deferred mail now.</summary>
    Flush,
    /// <summary><c>-q</c>INTERVAL: a daemon's queue interval; accepted, nothing to do.</summary>
    Nothing,
    /// <summary><c>-bi</c> or the name <c>newaliases</c>: check the alias files and have the running server re-read them.</summary>
    InitializeAliases,
}

/// <summary>A parsed sendmail command line.</summary>
public sealed record SendmailArguments
{
    public SendmailMode Mode { get; init; } = SendmailMode.Deliver;
    /// <summary><c>-t</c>: recipients also from To, Cc, Bcc (or Resent-To, -Cc, -Bcc).</summary>
    public bool ExtractRecipients { get; init; }
    /// <summary><c>-i</c> or <c>-oi</c>: a line holding a single dot does not end the message.</summary>
    public bool IgnoreDots { get; init; }
    /// <summary><c>-f</c> (or <c>-r</c>): the envelope sender asked for; "" for the null sender.</summary>
    public string? Sender { get; init; }
    /// <summary><c>-F</c>: the full name for a From header that sendmail adds.</summary>
    public string? FullName { get; init; }
    /// <summary><c>-C</c>: the configuration file.</summary>
    public string? ConfigPath { get; init; }
    /// <summary><c>-N</c>: DSN NOTIFY for every recipient.</summary>
    public string? Notify { get; init; }
    /// <summary><c>-R</c>: DSN RET (<c>full</c> or <c>hdrs</c>).</summary>
    public string? Ret { get; init; }
    /// <summary><c>-V</c>: DSN ENVID.</summary>
    public string? EnvelopeId { get; init; }
    /// <summary><c>-qR</c>site: flush only this domain.</summary>
    public string? FlushDomain { get; init; }
    /// <summary>The recipients named on the command line, as given.</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];
    /// <summary><c>-v</c>: say on standard error which maildrop file the message went to.</summary>
    public bool Verbose { get; init; }

    /// <summary>Parses <paramref name="args"/> (without the program name). <paramref name="error"/> is a usage message
    /// when the line cannot be used.</summary>
    /// <param name="args">The arguments.</param>
    /// <param name="invokedAs">The name the program was called by (<c>mailq</c> lists the queue, <c>newaliases</c> re-reads
    /// the aliases).</param>
    /// <param name="error">Why the line is bad; null when parsed.</param>
    public static SendmailArguments? Parse(IReadOnlyList<string> args, string invokedAs, out string? error)
    {
        error = null;
        var result = new SendmailArguments
        {
            Mode = invokedAs switch
            {
                "mailq" => SendmailMode.ListQueue,
                "newaliases" => SendmailMode.InitializeAliases,
                _ => SendmailMode.Deliver,
            },
        };
        var recipients = new List<string>();
        var i = 0;
        for (; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                i++;
                break;
            }
            if (arg.Length < 2 || arg[0] != '-') break;
            // getopt: flags may be grouped (-ti), and a flag's value is the rest of the word or the next word.
            for (var j = 1; j < arg.Length; j++)
            {
                var flag = arg[j];
                string? Value()
                {
                    string value;
                    if (j + 1 < arg.Length) value = arg[(j + 1)..];
                    else if (i + 1 < args.Count) value = args[++i];
                    else return null;
                    j = arg.Length;
                    return value;
                }
                switch (flag)
                {
                    case 't': result = result with { ExtractRecipients = true }; break;
                    case 'i': result = result with { IgnoreDots = true }; break;
                    case 'v': result = result with { Verbose = true }; break;
                    // Accepted and ignored, as Postfix does: -m (me too), -n (no aliasing), -U (initial submission),
                    // -c, -x, -G, -I.
                    case 'm' or 'n' or 'U' or 'c' or 'x' or 'G' or 'I': break;
                    case 'q':
                        {
                            var rest = arg[(j + 1)..];
                            j = arg.Length;
                            if (rest.Length == 0) result = result with { Mode = SendmailMode.Flush };
                            else if (rest[0] == 'R')
                            {
                                var site = rest.Length > 1 ? rest[1..] : i + 1 < args.Count ? args[++i] : null;
                                if (string.IsNullOrEmpty(site)) return Bad("-qR needs a site", out error);
                                result = result with { Mode = SendmailMode.Flush, FlushDomain = site.TrimStart('@') };
                            }
                            else if (char.IsAsciiDigit(rest[0])) result = result with { Mode = SendmailMode.Nothing };
                            else return Bad($"-q{rest}: not supported (use -q, -qRsite or -qINTERVAL)", out error);
                            break;
                        }
                    case 'b':
                        {
                            var mode = Value();
                            SendmailMode? chosen = mode switch
                            {
                                "m" => SendmailMode.Deliver,
                                "s" => SendmailMode.Smtp,
                                "p" => SendmailMode.ListQueue,
                                "i" => SendmailMode.InitializeAliases,
                                _ => null,
                            };
                            if (chosen is null) return Bad($"-b{mode}: unsupported mode (supported: -bm, -bs, -bp, -bi)", out error);
                            result = result with { Mode = chosen.Value };
                            break;
                        }
                    case 'o':
                        {
                            // -oi as -i; every other -oX (-om, -oem, -odb, -oA...) is accepted and ignored.
                            var option = Value();
                            if (option is null) return Bad("-o needs an option", out error);
                            if (option == "i") result = result with { IgnoreDots = true };
                            break;
                        }
                    case 'e':
                        // -e<x>: error reporting mode; ignored. A bare -e takes nothing more.
                        j = arg.Length;
                        break;
                    case 'f' or 'r' or 'F' or 'C' or 'N' or 'R' or 'V' or 'B' or 'L' or 'O' or 'X' or 'h':
                        {
                            var value = Value();
                            if (value is null) return Bad($"-{flag} needs a value", out error);
                            result = flag switch
                            {
                                'f' or 'r' => result with { Sender = Unbracket(value) },
                                'F' => result with { FullName = value },
                                'C' => result with { ConfigPath = value },
                                'N' => result with { Notify = value.ToUpperInvariant() },
                                'R' => result with { Ret = value.ToUpperInvariant() },
                                'V' => result with { EnvelopeId = value },
                                _ => result, // -B type, -L label, -O opt, -X log, -h hops: ignored
                            };
                            if (flag == 'R' && result.Ret is not ("FULL" or "HDRS")) return Bad($"-R {value}: must be full or hdrs", out error);
                            if (flag == 'N' && !IsNotify(result.Notify!)) return Bad($"-N {value}: must be never, or a list of success, failure, delay", out error);
                            break;
                        }
                    default:
                        return Bad($"-{flag}: unknown option", out error);
                }
            }
        }
        for (; i < args.Count; i++) recipients.Add(args[i]);
        return result with { Recipients = recipients };
    }

    private static string Unbracket(string sender)
    {
        var s = sender.Trim();
        return s.Length >= 2 && s[0] == '<' && s[^1] == '>' ? s[1..^1] : s;
    }

    private static bool IsNotify(string value)
    {
        var items = value.Split(',', StringSplitOptions.TrimEntries);
        if (items is ["NEVER"]) return true;
        return items.All(v => v is "SUCCESS" or "FAILURE" or "DELAY") && items.Distinct().Count() == items.Length;
    }

    private static SendmailArguments? Bad(string why, out string? error)
    {
        error = why;
        return null;
    }
}
