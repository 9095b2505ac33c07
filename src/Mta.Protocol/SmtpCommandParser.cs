// Parses one SMTP command line into an immutable command record, or the exact error reply to send.
using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Mta.Abstractions;

namespace Mta.Protocol;

/// <summary>Whether a command line parsed.</summary>
public enum CommandParseStatus
{
    /// <summary>A command was parsed (possibly an <see cref="UnknownCommand"/>).</summary>
    Ok,
    /// <summary>The line is malformed; send <see cref="CommandParseResult.Error"/>.</summary>
    Error,
}

/// <summary>The outcome of parsing a command line: a command, or the reply to send instead.</summary>
public readonly struct CommandParseResult
{
    private CommandParseResult(SmtpCommand? command, SmtpReply? error)
    {
        Command = command;
        Error = error;
    }

    /// <summary>The parsed command when <see cref="IsSuccess"/>.</summary>
    public SmtpCommand? Command { get; }

    /// <summary>The exact reply to send when parsing failed.</summary>
    public SmtpReply? Error { get; }

    /// <summary>True when <see cref="Command"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Command))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool IsSuccess => Command is not null;

    /// <summary><see cref="CommandParseStatus.Ok"/> or <see cref="CommandParseStatus.Error"/>.</summary>
    public CommandParseStatus Status => IsSuccess ? CommandParseStatus.Ok : CommandParseStatus.Error;

    /// <summary>A successful result.</summary>
    public static CommandParseResult Success(SmtpCommand command) => new(command ?? throw new ArgumentNullException(nameof(command)), null);

    /// <summary>A failed result carrying its reply.</summary>
    public static CommandParseResult Failure(SmtpReply error) => new(null, error ?? throw new ArgumentNullException(nameof(error)));

    /// <inheritdoc />
    public override string ToString() => IsSuccess ? Command.ToString() : Error.ToString().TrimEnd();
}

/// <summary>Session facts the parser needs.</summary>
/// <param name="Extended">The client greeted with EHLO, so ESMTP parameters are allowed on MAIL and RCPT.</param>
/// <param name="Utf8Transaction">The current transaction's MAIL carried SMTPUTF8, so RCPT may carry UTF-8 addresses.</param>
public readonly record struct ParserOptions(bool Extended, bool Utf8Transaction);

/// <summary>
/// Parses SMTP command lines (RFC 5321 4.1 and the ESMTP extensions Mta supports).
/// Reply codes used for errors:
/// <list type="bullet">
/// <item><c>500 5.5.2</c> the line itself is bad: empty, NUL, bare CR or LF, invalid UTF-8.</item>
/// <item><c>500 5.5.6</c> the line is longer than <see cref="SmtpLimits.MaxCommandLine"/> (AUTH: <see cref="SmtpLimits.MaxAuthLine"/>) octets with CRLF.</item>
/// <item><c>501 5.5.4</c> bad or missing arguments (HELO/EHLO, FROM:/TO: keyword, arguments on DATA and friends,
/// BDAT, AUTH) and bad values or syntax of known MAIL/RCPT parameters, duplicates included.</item>
/// <item><c>501 5.1.7</c> / <c>501 5.1.3</c> bad reverse-path / forward-path syntax, and over-long local part,
/// domain or path (RFC 5321 4.5.3.1.10 answers "501 Path too long").</item>
/// <item><c>553 5.6.7</c> non-ASCII address without SMTPUTF8 (RFC 6531 3.7.4.1, RFC 6533).</item>
/// <item><c>555 5.5.4</c> unknown MAIL/RCPT parameter, or any parameter after HELO (RFC 5321 4.1.1.11).</item>
/// </list>
/// An unknown verb is not an error: it parses to <see cref="UnknownCommand"/>.
/// </summary>
public static class SmtpCommandParser
{
    private const int StackChars = 512;

    /// <summary>Parses one command line.</summary>
    /// <param name="line">The line WITHOUT its terminating CRLF (or LF). The verb is matched case-insensitively.</param>
    /// <param name="options">Session facts: EHLO used, SMTPUTF8 transaction.</param>
    public static CommandParseResult Parse(ReadOnlySpan<byte> line, in ParserOptions options)
    {
        // A caller framing on bare LF may hand over the CR too; it is part of the line ending, not the line.
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IndexOf((byte)0) >= 0) return Failure(500, EnhancedStatusCode.SyntaxError, "Syntax error: NUL character not allowed");
        if (line.IndexOfAny((byte)'\r', (byte)'\n') >= 0) return Failure(500, EnhancedStatusCode.SyntaxError, "Syntax error: bare CR or LF not allowed");
        if (!Utf8.IsValid(line)) return Failure(500, EnhancedStatusCode.SyntaxError, "Syntax error: invalid UTF-8");

        char[]? rented = null;
        var chars = line.Length <= StackChars ? stackalloc char[StackChars] : (rented = ArrayPool<char>.Shared.Rent(line.Length));
        try
        {
            var n = Encoding.UTF8.GetChars(line, chars);
            return ParseCommandLine(chars[..n], line.Length, options);
        }
        finally
        {
            if (rented is not null) ArrayPool<char>.Shared.Return(rented);
        }
    }

    /// <summary>Parses one command line given as text (tests and tools); same rules as the byte overload.</summary>
    public static CommandParseResult Parse(string line, in ParserOptions options) =>
        Parse(Encoding.UTF8.GetBytes(line ?? throw new ArgumentNullException(nameof(line))), options);

    private static CommandParseResult ParseCommandLine(ReadOnlySpan<char> line, int octets, in ParserOptions options)
    {
        // Leading and trailing blanks are tolerated, as Postfix does: clients send "DATA " and similar.
        var text = line.Trim(" \t");
        if (text.IsEmpty) return Failure(500, EnhancedStatusCode.SyntaxError, "Syntax error: empty command");

        var sp = text.IndexOfAny(' ', '\t');
        var verbText = sp < 0 ? text : text[..sp];
        var args = sp < 0 ? [] : text[(sp + 1)..].TrimStart(" \t");
        var verb = LookupVerb(verbText);

        var limit = verb == SmtpVerb.Auth ? SmtpLimits.MaxAuthLine : SmtpLimits.MaxCommandLine;
        if (octets + 2 > limit) return Failure(500, EnhancedStatusCode.LineTooLong, "Line too long");

        switch (verb)
        {
            case SmtpVerb.Helo:
            case SmtpVerb.Ehlo:
                return ParseHelo(verb, args);
            case SmtpVerb.Mail:
            case SmtpVerb.Send:
            case SmtpVerb.Soml:
            case SmtpVerb.Saml:
                return ParseMail(verb, args, options);
            case SmtpVerb.Rcpt:
                return ParseRcpt(args, options);
            case SmtpVerb.Data:
                return NoArguments(args, "DATA", Cached.Data);
            case SmtpVerb.Rset:
                return NoArguments(args, "RSET", Cached.Rset);
            case SmtpVerb.Quit:
                return NoArguments(args, "QUIT", Cached.Quit);
            case SmtpVerb.Turn:
                return NoArguments(args, "TURN", Cached.Turn);
            case SmtpVerb.StartTls:
                return NoArguments(args, "STARTTLS", Cached.StartTls);
            case SmtpVerb.Bdat:
                return ParseBdat(args);
            case SmtpVerb.Vrfy:
                return args.IsEmpty ? SyntaxArgs("Syntax: VRFY address") : CommandParseResult.Success(new VrfyCommand(args.ToString()));
            case SmtpVerb.Expn:
                return args.IsEmpty ? SyntaxArgs("Syntax: EXPN list") : CommandParseResult.Success(new ExpnCommand(args.ToString()));
            case SmtpVerb.Etrn:
                return args.IsEmpty ? SyntaxArgs("Syntax: ETRN node") : CommandParseResult.Success(new EtrnCommand(args.ToString()));
            case SmtpVerb.Help:
                return CommandParseResult.Success(args.IsEmpty ? Cached.Help : new HelpCommand(args.ToString()));
            case SmtpVerb.Noop:
                return CommandParseResult.Success(args.IsEmpty ? Cached.Noop : new NoopCommand(args.ToString()));
            case SmtpVerb.Auth:
                return ParseAuth(args);
            case SmtpVerb.XClient:
                return XClientParser.Parse(args);
            default:
                return CommandParseResult.Success(new UnknownCommand(verbText.ToString().ToUpperInvariant(), line.ToString()));
        }
    }

    private static SmtpVerb LookupVerb(ReadOnlySpan<char> v)
    {
        static bool Is(ReadOnlySpan<char> a, string b) => a.Equals(b, StringComparison.OrdinalIgnoreCase);
        return v.Length switch
        {
            4 when Is(v, "MAIL") => SmtpVerb.Mail,
            4 when Is(v, "RCPT") => SmtpVerb.Rcpt,
            4 when Is(v, "DATA") => SmtpVerb.Data,
            4 when Is(v, "EHLO") => SmtpVerb.Ehlo,
            4 when Is(v, "HELO") => SmtpVerb.Helo,
            4 when Is(v, "QUIT") => SmtpVerb.Quit,
            4 when Is(v, "RSET") => SmtpVerb.Rset,
            4 when Is(v, "NOOP") => SmtpVerb.Noop,
            4 when Is(v, "VRFY") => SmtpVerb.Vrfy,
            4 when Is(v, "EXPN") => SmtpVerb.Expn,
            4 when Is(v, "HELP") => SmtpVerb.Help,
            4 when Is(v, "BDAT") => SmtpVerb.Bdat,
            4 when Is(v, "AUTH") => SmtpVerb.Auth,
            4 when Is(v, "SEND") => SmtpVerb.Send,
            4 when Is(v, "SOML") => SmtpVerb.Soml,
            4 when Is(v, "SAML") => SmtpVerb.Saml,
            4 when Is(v, "TURN") => SmtpVerb.Turn,
            4 when Is(v, "ETRN") => SmtpVerb.Etrn,
            8 when Is(v, "STARTTLS") => SmtpVerb.StartTls,
            7 when Is(v, "XCLIENT") => SmtpVerb.XClient,
            _ => SmtpVerb.Unknown,
        };
    }

    // HELO/EHLO take exactly one argument: a domain or an address literal.
    private static CommandParseResult ParseHelo(SmtpVerb verb, ReadOnlySpan<char> args)
    {
        var name = verb == SmtpVerb.Helo ? "HELO" : "EHLO";
        if (args.IsEmpty || args.IndexOfAny(' ', '\t') >= 0) return SyntaxArgs($"Syntax: {name} hostname");
        if (!IsValidHeloName(args)) return SyntaxArgs("Invalid domain name");
        var domain = args.ToString();
        return CommandParseResult.Success(verb == SmtpVerb.Helo ? new HeloCommand(domain) : new EhloCommand(domain));
    }

    // Stricter than "anything" but looser than RFC 5321 Domain: real clients send underscores, bare IPs and a trailing dot.
    internal static bool IsValidHeloName(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return false;
        if (s[0] == '[') return SmtpPathParser.IsValidAddressLiteral(s);
        if (s[^1] == '.') s = s[..^1];
        if (s.IsEmpty || s.Length > SmtpLimits.MaxDomain) return false;
        foreach (var range in s.Split('.'))
        {
            var label = s[range];
            if (label.IsEmpty) return false;
            foreach (var c in label)
                if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_')) return false;
        }
        return true;
    }

    // Mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]; SEND, SOML and SAML share the grammar.
    private static CommandParseResult ParseMail(SmtpVerb verb, ReadOnlySpan<char> args, in ParserOptions options)
    {
        var verbName = verb.ToString().ToUpperInvariant();
        if (!args.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase))
            return SyntaxArgs($"Syntax: {verbName} FROM:<address>");
        var rest = args[5..].TrimStart(" \t");
        if (rest.IsEmpty) return SyntaxArgs($"Syntax: {verbName} FROM:<address>");

        // UTF-8 is checked after the parameters: SMTPUTF8 on this very line is what permits it.
        if (!SmtpPathParser.TryParseReversePath(rest, allowUtf8: true, out var address, out var consumed, out var kind, out var why))
            return PathFailure(kind, why, sender: true);
        var path = rest[..consumed];
        var after = rest[consumed..];
        if (!after.IsEmpty && after[0] is not (' ' or '\t'))
            return PathFailure(SmtpPathError.Syntax, "Syntax error after reverse-path", sender: true);

        var parameters = MailParameters.Empty;
        var paramText = after.Trim(" \t");
        if (!paramText.IsEmpty)
        {
            if (!options.Extended) return ParametersNotAllowed();
            if (!TryParseMailParameters(paramText, out parameters, out var error)) return CommandParseResult.Failure(error);
        }
        if (!Ascii.IsValid(path) && !(options.Extended && parameters.SmtpUtf8))
            return PathFailure(SmtpPathError.NonAsciiNotAllowed, "Non-ASCII address requires SMTPUTF8", sender: true);
        return CommandParseResult.Success(new MailCommand(verb, address, parameters));
    }

    // Rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
    private static CommandParseResult ParseRcpt(ReadOnlySpan<char> args, in ParserOptions options)
    {
        if (!args.StartsWith("TO:", StringComparison.OrdinalIgnoreCase)) return SyntaxArgs("Syntax: RCPT TO:<address>");
        var rest = args[3..].TrimStart(" \t");
        if (rest.IsEmpty) return SyntaxArgs("Syntax: RCPT TO:<address>");

        if (!SmtpPathParser.TryParseForwardPath(rest, options.Utf8Transaction, out var address, out var consumed, out var kind, out var why))
            return PathFailure(kind, why, sender: false);
        var after = rest[consumed..];
        if (!after.IsEmpty && after[0] is not (' ' or '\t'))
            return PathFailure(SmtpPathError.Syntax, "Syntax error after forward-path", sender: false);

        var parameters = RcptParameters.Empty;
        var paramText = after.Trim(" \t");
        if (!paramText.IsEmpty)
        {
            if (!options.Extended) return ParametersNotAllowed();
            if (!TryParseRcptParameters(paramText, out parameters, out var error)) return CommandParseResult.Failure(error);
        }
        return CommandParseResult.Success(new RcptCommand(address, parameters));
    }

    /// <summary>Parses Mail-parameters (<c>keyword[=value]</c> separated by spaces): SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH.</summary>
    /// <param name="text">The parameters after the reverse-path.</param>
    /// <param name="parameters">The parsed values.</param>
    /// <param name="error">501 5.5.4 for bad syntax, values or duplicates; 555 5.5.4 for an unknown keyword.</param>
    public static bool TryParseMailParameters(ReadOnlySpan<char> text, out MailParameters parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        parameters = MailParameters.Empty;
        var raw = new Dictionary<string, string?>(StringComparer.Ordinal);
        long? size = null;
        var body = BodyType.Unspecified;
        var utf8 = false;
        var ret = DsnReturn.Unspecified;
        string? envid = null, auth = null;

        foreach (var range in text.SplitAny(' ', '\t'))
        {
            var token = text[range];
            if (token.IsEmpty) continue;
            if (!TrySplitParameter(token, raw, out var key, out var value, out error)) return false;
            switch (key)
            {
                case "SIZE":
                    if (value is null || value.Length == 0 || !Ascii.IsValid(value) || value.AsSpan().ContainsAnyExceptInRange('0', '9'))
                        return BadValue(key, out error);
                    size = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : long.MaxValue;
                    break;
                case "BODY":
                    body = value?.ToUpperInvariant() switch
                    {
                        "7BIT" => BodyType.SevenBit,
                        "8BITMIME" => BodyType.EightBitMime,
                        "BINARYMIME" => BodyType.BinaryMime,
                        _ => BodyType.Unspecified,
                    };
                    if (body == BodyType.Unspecified) return BadValue(key, out error);
                    break;
                case "SMTPUTF8":
                    if (value is not null) return BadValue(key, out error);
                    utf8 = true;
                    break;
                case "RET":
                    ret = value?.ToUpperInvariant() switch
                    {
                        "FULL" => DsnReturn.Full,
                        "HDRS" => DsnReturn.Headers,
                        _ => DsnReturn.Unspecified,
                    };
                    if (ret == DsnReturn.Unspecified) return BadValue(key, out error);
                    break;
                case "ENVID":
                    if (value is null || value.Length > SmtpLimits.MaxEnvelopeId || !Xtext.TryDecode(value, out envid))
                        return BadValue(key, out error);
                    break;
                case "AUTH":
                    if (value is null) return BadValue(key, out error);
                    if (value == "<>") auth = value;
                    else if (!Xtext.TryDecode(value, out auth)) return BadValue(key, out error);
                    break;
                default:
                    error = Reply(555, EnhancedStatusCode.InvalidCommandArguments, $"Unsupported parameter {key}");
                    return false;
            }
        }

        parameters = new MailParameters
        {
            Size = size,
            Body = body,
            SmtpUtf8 = utf8,
            Ret = ret,
            EnvelopeId = envid,
            Auth = auth,
            Raw = raw,
        };
        error = null;
        return true;
    }

    /// <summary>Parses Rcpt-parameters: NOTIFY and ORCPT (RFC 3461).</summary>
    /// <param name="text">The parameters after the forward-path.</param>
    /// <param name="parameters">The parsed values.</param>
    /// <param name="error">501 5.5.4 for bad syntax, values or duplicates; 555 5.5.4 for an unknown keyword.</param>
    public static bool TryParseRcptParameters(ReadOnlySpan<char> text, out RcptParameters parameters, [NotNullWhen(false)] out SmtpReply? error)
    {
        parameters = RcptParameters.Empty;
        var raw = new Dictionary<string, string?>(StringComparer.Ordinal);
        var notify = DsnNotify.Default;
        string? orcpt = null;

        foreach (var range in text.SplitAny(' ', '\t'))
        {
            var token = text[range];
            if (token.IsEmpty) continue;
            if (!TrySplitParameter(token, raw, out var key, out var value, out error)) return false;
            switch (key)
            {
                case "NOTIFY":
                    if (value is null || !TryParseNotify(value, out notify)) return BadValue(key, out error);
                    break;
                case "ORCPT":
                    if (value is null || !TryParseOrcpt(value, out orcpt)) return BadValue(key, out error);
                    break;
                default:
                    error = Reply(555, EnhancedStatusCode.InvalidCommandArguments, $"Unsupported parameter {key}");
                    return false;
            }
        }

        parameters = new RcptParameters { Notify = notify, OriginalRecipient = orcpt, Raw = raw };
        error = null;
        return true;
    }

    // esmtp-param = esmtp-keyword ["=" esmtp-value]; keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-");
    // value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii). Adds the parameter to raw, refusing duplicates.
    private static bool TrySplitParameter(ReadOnlySpan<char> token, Dictionary<string, string?> raw, out string key, out string? value, [NotNullWhen(false)] out SmtpReply? error)
    {
        key = string.Empty;
        value = null;
        var eq = token.IndexOf('=');
        var keyword = eq < 0 ? token : token[..eq];
        if (keyword.IsEmpty || !char.IsAsciiLetterOrDigit(keyword[0]))
            return Bad("Syntax error in parameters", out error);
        foreach (var c in keyword)
            if (!char.IsAsciiLetterOrDigit(c) && c != '-') return Bad("Syntax error in parameters", out error);
        if (eq >= 0)
        {
            var v = token[(eq + 1)..];
            if (v.IsEmpty) return Bad("Syntax error in parameters", out error);
            foreach (var c in v)
                if (c is < (char)33 or '=' or (char)127) return Bad("Syntax error in parameters", out error);
            value = v.ToString();
        }
        key = keyword.ToString().ToUpperInvariant();
        if (!raw.TryAdd(key, value)) return Bad($"Duplicate parameter {key}", out error);
        error = null;
        return true;

        static bool Bad(string text, out SmtpReply error)
        {
            error = Reply(501, EnhancedStatusCode.InvalidCommandArguments, text);
            return false;
        }
    }

    // NOTIFY = "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" )
    private static bool TryParseNotify(string value, out DsnNotify notify)
    {
        notify = DsnNotify.Default;
        if (value.Equals("NEVER", StringComparison.OrdinalIgnoreCase))
        {
            notify = DsnNotify.Never;
            return true;
        }
        foreach (var item in value.Split(','))
        {
            var flag = item.ToUpperInvariant() switch
            {
                "SUCCESS" => DsnNotify.Success,
                "FAILURE" => DsnNotify.Failure,
                "DELAY" => DsnNotify.Delay,
                _ => DsnNotify.Default,
            };
            if (flag == DsnNotify.Default || (notify & flag) != 0) return false;
            notify |= flag;
        }
        return true;
    }

    // ORCPT = addr-type ";" xtext; addr-type = atom. Decoded to "addr-type;address".
    private static bool TryParseOrcpt(string value, out string? orcpt)
    {
        orcpt = null;
        var semi = value.IndexOf(';');
        if (semi <= 0 || semi == value.Length - 1) return false;
        foreach (var c in value.AsSpan(0, semi))
            if (!char.IsAsciiLetterOrDigit(c) && !"!#$%&'*+-/=?^_`{|}~".Contains(c)) return false;
        if (!Xtext.TryDecode(value.AsSpan(semi + 1), out var address)) return false;
        orcpt = string.Concat(value.AsSpan(0, semi + 1), address);
        return true;
    }

    private static CommandParseResult ParseBdat(ReadOnlySpan<char> args)
    {
        Span<Range> parts = stackalloc Range[3];
        var count = args.SplitAny(parts, " \t", StringSplitOptions.RemoveEmptyEntries);
        if (count is < 1 or > 2) return SyntaxArgs("Syntax: BDAT size [LAST]");
        var sizeText = args[parts[0]];
        if (sizeText.ContainsAnyExceptInRange('0', '9') || !long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
            return SyntaxArgs("Syntax: BDAT size [LAST]");
        var last = false;
        if (count == 2)
        {
            if (!args[parts[1]].Equals("LAST", StringComparison.OrdinalIgnoreCase)) return SyntaxArgs("Syntax: BDAT size [LAST]");
            last = true;
        }
        return CommandParseResult.Success(new BdatCommand(size, last));
    }

    // AUTH mechanism [initial-response] (RFC 4954 4); "=" is an empty initial response and is kept as "=".
    private static CommandParseResult ParseAuth(ReadOnlySpan<char> args)
    {
        Span<Range> parts = stackalloc Range[3];
        var count = args.SplitAny(parts, " \t", StringSplitOptions.RemoveEmptyEntries);
        if (count is < 1 or > 2) return SyntaxArgs("Syntax: AUTH mechanism [initial-response]");
        var mechanism = args[parts[0]];
        // sasl-mech = 1*20mech-char; mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE (RFC 4422 3.1)
        if (mechanism.Length > 20) return SyntaxArgs("Invalid authentication mechanism");
        foreach (var c in mechanism)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_')) return SyntaxArgs("Invalid authentication mechanism");
        var initial = count == 2 ? args[parts[1]].ToString() : null;
        return CommandParseResult.Success(new AuthCommand(mechanism.ToString().ToUpperInvariant(), initial));
    }

    private static CommandParseResult NoArguments(ReadOnlySpan<char> args, string verb, SmtpCommand command) =>
        args.IsEmpty ? CommandParseResult.Success(command) : SyntaxArgs($"Syntax: {verb} (no arguments)");

    private static CommandParseResult PathFailure(SmtpPathError kind, string? why, bool sender)
    {
        if (kind == SmtpPathError.NonAsciiNotAllowed)
            return Failure(553, EnhancedStatusCode.NonAsciiAddressNotPermitted, why ?? "Non-ASCII address requires SMTPUTF8");
        var code = sender ? EnhancedStatusCode.BadSenderSyntax : EnhancedStatusCode.BadDestinationSyntax;
        var what = sender ? "Bad sender address syntax" : "Bad recipient address syntax";
        return Failure(501, code, why is null ? what : $"{what}: {why}");
    }

    private static CommandParseResult ParametersNotAllowed() =>
        Failure(555, EnhancedStatusCode.InvalidCommandArguments, "Parameters not supported without EHLO");

    private static bool BadValue(string key, out SmtpReply error)
    {
        error = Reply(501, EnhancedStatusCode.InvalidCommandArguments, $"Bad {key} parameter value");
        return false;
    }

    private static CommandParseResult SyntaxArgs(string text) => Failure(501, EnhancedStatusCode.InvalidCommandArguments, text);

    private static CommandParseResult Failure(int code, EnhancedStatusCode enhanced, string text) =>
        CommandParseResult.Failure(Reply(code, enhanced, text));

    private static SmtpReply Reply(int code, EnhancedStatusCode enhanced, string text) => new(code, enhanced, text);

    // Argument-less commands are immutable, so one instance each serves every session.
    private static class Cached
    {
        public static readonly DataCommand Data = new();
        public static readonly RsetCommand Rset = new();
        public static readonly QuitCommand Quit = new();
        public static readonly TurnCommand Turn = new();
        public static readonly StartTlsCommand StartTls = new();
        public static readonly HelpCommand Help = new(null);
        public static readonly NoopCommand Noop = new(null);
    }
}
