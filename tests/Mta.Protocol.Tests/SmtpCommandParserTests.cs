// Parser theories: every command, its valid forms and the malformed ones with their exact replies.
using Mta.Abstractions;
using static Mta.Protocol.Tests.TestSupport;

namespace Mta.Protocol.Tests;

public class SmtpCommandParserTests
{
    [Theory]
    [InlineData("HELO mail.example.org", "mail.example.org")]
    [InlineData("helo mail.example.org", "mail.example.org")]
    [InlineData("HELO my_host.example", "my_host.example")]
    [InlineData("HELO localhost", "localhost")]
    [InlineData("HELO 192.0.2.1", "192.0.2.1")]
    [InlineData("HELO [192.0.2.1]", "[192.0.2.1]")]
    [InlineData("HELO host.example.", "host.example.")]
    [InlineData("HELO  spaced.example  ", "spaced.example")]
    public void Helo_accepts_domain(string line, string domain) =>
        Assert.Equal(domain, Ok<HeloCommand>(line).Domain);

    [Theory]
    [InlineData("EHLO mail.example.org", "mail.example.org")]
    [InlineData("ehlo [IPv6:2001:db8::1]", "[IPv6:2001:db8::1]")]
    [InlineData("EhLo [127.0.0.1]", "[127.0.0.1]")]
    public void Ehlo_accepts_domain_or_literal(string line, string domain) =>
        Assert.Equal(domain, Ok<EhloCommand>(line).Domain);

    [Theory]
    [InlineData("HELO")]
    [InlineData("EHLO")]
    [InlineData("EHLO   ")]
    [InlineData("EHLO a.example b.example")]
    [InlineData("HELO bad..example")]
    [InlineData("HELO [1.2.3.400]")]
    [InlineData("HELO ex!ample")]
    [InlineData("EHLO [IPv6:zz::1]")]
    [InlineData("EHLO .")]
    public void Helo_bad_argument_is_501(string line) => Fails(line, 501, "5.5.4");

    [Theory]
    [InlineData("MAIL FROM:<a@b.example>", SmtpVerb.Mail)]
    [InlineData("mail from:<a@b.example>", SmtpVerb.Mail)]
    [InlineData("MAIL FROM: <a@b.example>", SmtpVerb.Mail)]
    [InlineData("MAIL FROM:   <a@b.example>", SmtpVerb.Mail)]
    [InlineData("MAIL  FROM:<a@b.example>", SmtpVerb.Mail)]
    [InlineData("MAIL FROM:<a@b.example>  ", SmtpVerb.Mail)]
    [InlineData("SEND FROM:<a@b.example>", SmtpVerb.Send)]
    [InlineData("soml from:<a@b.example>", SmtpVerb.Soml)]
    [InlineData("SAML From:<a@b.example>", SmtpVerb.Saml)]
    public void Mail_verbs(string line, SmtpVerb verb)
    {
        var mail = Ok<MailCommand>(line);
        Assert.Equal(verb, mail.Verb);
        Assert.Equal(new SmtpAddress("a", "b.example"), mail.ReversePath);
        Assert.Same(MailParameters.Empty, mail.Parameters);
    }

    [Fact]
    public void Mail_null_reverse_path_is_valid()
    {
        var mail = Ok<MailCommand>("MAIL FROM:<>");
        Assert.True(mail.ReversePath.IsNull);
        Assert.True(Ok<MailCommand>("MAIL FROM:<> SIZE=10").ReversePath.IsNull);
    }

    [Fact]
    public void Mail_source_route_is_dropped()
    {
        var mail = Ok<MailCommand>("MAIL FROM:<@relay1.example,@relay2.example:user@c.example>");
        Assert.Equal(new SmtpAddress("user", "c.example"), mail.ReversePath);
    }

    [Theory]
    [InlineData("MAIL")]
    [InlineData("MAIL FROM")]
    [InlineData("MAIL FROM:")]
    [InlineData("MAIL FROM <a@b.example>")]
    [InlineData("MAIL TO:<a@b.example>")]
    [InlineData("MAIL FROM :<a@b.example>")]
    [InlineData("MAILFROM:<a@b.example>")]
    public void Mail_without_from_keyword_is_501_554(string line)
    {
        var r = Parse(line);
        if (line.StartsWith("MAILFROM", StringComparison.Ordinal))
        {
            Assert.IsType<UnknownCommand>(r.Command);
            return;
        }
        Fails(line, 501, "5.5.4");
    }

    [Theory]
    [InlineData("MAIL FROM:a@b.example")]
    [InlineData("MAIL FROM:<a@b.example")]
    [InlineData("MAIL FROM:a@b.example>")]
    [InlineData("MAIL FROM:<a b@c.example>")]
    [InlineData("MAIL FROM:<a@b .example>")]
    [InlineData("MAIL FROM:<a@>")]
    [InlineData("MAIL FROM:<@b.example>")]
    [InlineData("MAIL FROM:<a>")]
    [InlineData("MAIL FROM:<\"a@b.example>")]
    [InlineData("MAIL FROM:<a..b@c.example>")]
    [InlineData("MAIL FROM:<.a@c.example>")]
    [InlineData("MAIL FROM:<a.@c.example>")]
    [InlineData("MAIL FROM:<a@-b.example>")]
    [InlineData("MAIL FROM:<a@b-.example>")]
    [InlineData("MAIL FROM:<a@b..example>")]
    [InlineData("MAIL FROM:<a@b.example.>")]
    [InlineData("MAIL FROM:<a@[1.2.3.400]>")]
    [InlineData("MAIL FROM:<a@[1.2.3]>")]
    [InlineData("MAIL FROM:<a@[IPv6:1.2.3.4]>")]
    [InlineData("MAIL FROM:<a@[IPv6:fe80::1%eth0]>")]
    [InlineData("MAIL FROM:<a@[]>")]
    [InlineData("MAIL FROM:<a@[1.2.3.4>")]
    [InlineData("MAIL FROM:<a@b.example>x")]
    [InlineData("MAIL FROM:<<a@b.example>>")]
    [InlineData("MAIL FROM:<@relay.example a@b.example>")]
    [InlineData("MAIL FROM:<@relay.example,a@b.example>")]
    [InlineData("MAIL FROM:<Postmaster>")]
    [InlineData("MAIL FROM:<a@b_c.example>")]
    public void Mail_bad_path_is_501_517(string line) => Fails(line, 501, "5.1.7");

    [Theory]
    [InlineData("RCPT TO:<a@b.example>", "a", "b.example")]
    [InlineData("rcpt to:<A.B@Example.ORG>", "A.B", "Example.ORG")]
    [InlineData("RCPT TO: <a@b.example>", "a", "b.example")]
    [InlineData("RCPT TO:<Postmaster>", "Postmaster", "")]
    [InlineData("RCPT TO:<postmaster>", "Postmaster", "")]
    [InlineData("RCPT TO:<POSTMASTER>", "Postmaster", "")]
    [InlineData("RCPT TO:<postmaster@b.example>", "postmaster", "b.example")]
    [InlineData("RCPT TO:<@hop.example:a@b.example>", "a", "b.example")]
    [InlineData("RCPT TO:<a@[192.0.2.1]>", "a", "[192.0.2.1]")]
    [InlineData("RCPT TO:<a@[IPv6:2001:db8::1]>", "a", "[IPv6:2001:db8::1]")]
    [InlineData("RCPT TO:<a@[IPv6:::ffff:192.0.2.1]>", "a", "[IPv6:::ffff:192.0.2.1]")]
    [InlineData("RCPT TO:<a@[x-tag:anything]>", "a", "[x-tag:anything]")]
    [InlineData("RCPT TO:<\"john doe\"@b.example>", "john doe", "b.example")]
    [InlineData("RCPT TO:<\"a\\\"b\\\\c\"@b.example>", "a\"b\\c", "b.example")]
    [InlineData("RCPT TO:<\"\"@b.example>", "", "b.example")]
    [InlineData("RCPT TO:<!#$%&'*+-/=?^_`{|}~@b.example>", "!#$%&'*+-/=?^_`{|}~", "b.example")]
    [InlineData("RCPT TO:<a@1.2.3.4>", "a", "1.2.3.4")]
    public void Rcpt_forward_paths(string line, string local, string domain)
    {
        var rcpt = Ok<RcptCommand>(line);
        Assert.Equal(new SmtpAddress(local, domain), rcpt.ForwardPath);
        Assert.Same(RcptParameters.Empty, rcpt.Parameters);
    }

    [Fact]
    public void Quoted_local_part_round_trips_through_SmtpAddress()
    {
        var rcpt = Ok<RcptCommand>("RCPT TO:<\"john doe\"@b.example>");
        Assert.Equal("<\"john doe\"@b.example>", rcpt.ForwardPath.ToPathString());
    }

    [Theory]
    [InlineData("RCPT TO:<>")]
    [InlineData("RCPT TO:a@b.example")]
    [InlineData("RCPT TO:<a@b.example")]
    [InlineData("RCPT TO:<a>")]
    [InlineData("RCPT TO:<\"unbalanced@b.example>")]
    [InlineData("RCPT TO:<a@b.example> >")]
    [InlineData("RCPT TO:<a\tb@b.example>")]
    [InlineData("RCPT TO:<\"a\u0001\"@b.example>")]
    [InlineData("RCPT TO:<a@b.example>garbage")]
    public void Rcpt_bad_path_is_501_513(string line)
    {
        var r = Parse(line);
        Assert.False(r.IsSuccess);
        // "<a@b.example> >" is a parameter-syntax error; every other case is an address error.
        if (line.EndsWith("> >", StringComparison.Ordinal)) Assert.Equal("501 5.5.4", r.Error.Code + " " + r.Error.EnhancedCode);
        else Assert.Equal("501 5.1.3", r.Error.Code + " " + r.Error.EnhancedCode);
    }

    [Theory]
    [InlineData("RCPT")]
    [InlineData("RCPT TO")]
    [InlineData("RCPT TO:")]
    [InlineData("RCPT FROM:<a@b.example>")]
    public void Rcpt_without_to_keyword_is_501_554(string line) => Fails(line, 501, "5.5.4");

    [Fact]
    public void Local_part_of_64_is_accepted_and_65_refused()
    {
        Ok<RcptCommand>($"RCPT TO:<{new string('a', 64)}@b.example>");
        var reply = Fails($"RCPT TO:<{new string('a', 65)}@b.example>", 501, "5.1.3");
        Assert.Contains("Local part too long", reply.ToString(), StringComparison.Ordinal);
        Fails($"MAIL FROM:<{new string('a', 65)}@b.example>", 501, "5.1.7");
    }

    [Fact]
    public void Domain_of_256_is_refused()
    {
        var domain = string.Join('.', [.. Enumerable.Repeat(new string('d', 63), 3), new string('d', 62), "x"]); // 3*63+62+1+4 dots = 256
        Assert.Equal(256, domain.Length);
        var reply = Fails($"RCPT TO:<a@{domain}>", 501, "5.1.3");
        Assert.Contains("Domain too long", reply.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Domain_label_of_64_is_refused() =>
        Fails($"RCPT TO:<a@{new string('d', 64)}.example>", 501, "5.1.3");

    [Fact]
    public void Path_of_256_is_accepted_and_257_refused()
    {
        // "<" + 64 + "@" + domain + ">" with domain chosen so the whole path is 256, then 257.
        string Path(int total)
        {
            var domainLength = total - 2 - 64 - 1;
            var labels = new List<string>();
            var left = domainLength;
            while (left > 0)
            {
                var n = Math.Min(63, left);
                if (left - n == 1) n--; // never leave a lone dot
                labels.Add(new string('d', n));
                left -= n + 1;
            }
            var domain = string.Join('.', labels);
            return $"<{new string('l', 64)}@{domain}>";
        }
        var ok = Path(256);
        Assert.Equal(256, ok.Length);
        Ok<RcptCommand>($"RCPT TO:{ok}");
        var bad = Path(257);
        Assert.Equal(257, bad.Length);
        var reply = Fails($"RCPT TO:{bad}", 501, "5.1.3");
        Assert.Contains("Path too long", reply.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Utf8_local_part_is_counted_in_octets()
    {
        // 32 two-octet characters = 64 octets: fine; 33 = 66 octets: too long.
        Ok<RcptCommand>($"RCPT TO:<{new string('é', 32)}@b.example>", utf8: true);
        Fails($"RCPT TO:<{new string('é', 33)}@b.example>", 501, "5.1.3", utf8: true);
    }

    [Fact]
    public void Utf8_addresses_need_smtputf8()
    {
        var mail = Ok<MailCommand>("MAIL FROM:<jörg@bücher.example> SMTPUTF8");
        Assert.Equal(new SmtpAddress("jörg", "bücher.example"), mail.ReversePath);
        Assert.True(mail.Parameters.SmtpUtf8);

        Fails("MAIL FROM:<jörg@example.org>", 553, "5.6.7");
        Fails("MAIL FROM:<a@bücher.example>", 553, "5.6.7");
        Fails("MAIL FROM:<jörg@example.org> SMTPUTF8", 555, "5.5.4", extended: false);

        Assert.Equal("用户", Ok<RcptCommand>("RCPT TO:<用户@例子.example>", utf8: true).ForwardPath.LocalPart);
        Fails("RCPT TO:<用户@例子.example>", 553, "5.6.7", utf8: false);
        Fails("RCPT TO:<\"jö rg\"@example.org>", 553, "5.6.7", utf8: false);
        Assert.Equal("jö rg", Ok<RcptCommand>("RCPT TO:<\"jö rg\"@example.org>", utf8: true).ForwardPath.LocalPart);
    }

    [Fact]
    public void Mail_parameters_are_parsed()
    {
        var mail = Ok<MailCommand>("MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159+2Bx AUTH=e+3Dmc2@example.com");
        var p = mail.Parameters;
        Assert.Equal(12345, p.Size);
        Assert.Equal(BodyType.EightBitMime, p.Body);
        Assert.True(p.SmtpUtf8);
        Assert.Equal(DsnReturn.Headers, p.Ret);
        Assert.Equal("QQ314159+x", p.EnvelopeId);
        Assert.Equal("e=mc2@example.com", p.Auth);
        Assert.Equal(6, p.Raw.Count);
        Assert.Equal("12345", p.Raw["SIZE"]);
        Assert.Null(p.Raw["SMTPUTF8"]);
        Assert.Equal("QQ314159+2Bx", p.Raw["ENVID"]);
    }

    [Theory]
    [InlineData("body=7bit", BodyType.SevenBit)]
    [InlineData("BODY=8bitmime", BodyType.EightBitMime)]
    [InlineData("BODY=BINARYMIME", BodyType.BinaryMime)]
    public void Body_values(string param, BodyType body) =>
        Assert.Equal(body, Ok<MailCommand>($"MAIL FROM:<a@b.example> {param}").Parameters.Body);

    [Fact]
    public void Parameter_keywords_are_upper_cased_and_spaces_tolerated()
    {
        var p = Ok<MailCommand>("MAIL FROM:<a@b.example>   size=10    ret=full  ").Parameters;
        Assert.Equal(10, p.Size);
        Assert.Equal(DsnReturn.Full, p.Ret);
        Assert.True(p.Raw.ContainsKey("SIZE"));
        Assert.True(p.Raw.ContainsKey("RET"));
    }

    [Fact]
    public void Huge_size_is_clamped_so_the_engine_answers_552()
    {
        Assert.Equal(long.MaxValue, Ok<MailCommand>("MAIL FROM:<a@b.example> SIZE=99999999999999999999999").Parameters.Size);
    }

    [Fact]
    public void Auth_null_mailbox_is_kept() =>
        Assert.Equal("<>", Ok<MailCommand>("MAIL FROM:<a@b.example> AUTH=<>").Parameters.Auth);

    [Theory]
    [InlineData("MAIL FROM:<a@b.example> SIZE=abc")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=-1")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=1.5")]
    [InlineData("MAIL FROM:<a@b.example> SIZE")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=")]
    [InlineData("MAIL FROM:<a@b.example> BODY=foo")]
    [InlineData("MAIL FROM:<a@b.example> BODY")]
    [InlineData("MAIL FROM:<a@b.example> SMTPUTF8=yes")]
    [InlineData("MAIL FROM:<a@b.example> RET=ALL")]
    [InlineData("MAIL FROM:<a@b.example> ENVID=a+zz")]
    [InlineData("MAIL FROM:<a@b.example> ENVID")]
    [InlineData("MAIL FROM:<a@b.example> AUTH=a+2")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=1 SIZE=2")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=1 size=1")]
    [InlineData("MAIL FROM:<a@b.example> =x")]
    [InlineData("MAIL FROM:<a@b.example> -X=1")]
    [InlineData("MAIL FROM:<a@b.example> X_Y=1")]
    [InlineData("MAIL FROM:<a@b.example> BODY=a=b")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=1\u007f")]
    public void Bad_mail_parameter_is_501_554(string line) => Fails(line, 501, "5.5.4");

    [Fact]
    public void Envid_longer_than_100_is_refused()
    {
        Ok<MailCommand>($"MAIL FROM:<a@b.example> ENVID={new string('x', 100)}");
        Fails($"MAIL FROM:<a@b.example> ENVID={new string('x', 101)}", 501, "5.5.4");
    }

    [Theory]
    [InlineData("MAIL FROM:<a@b.example> FOO=bar")]
    [InlineData("MAIL FROM:<a@b.example> SIZE=10 X-UNKNOWN")]
    [InlineData("MAIL FROM:<a@b.example> NOTIFY=NEVER")]
    [InlineData("RCPT TO:<a@b.example> SIZE=10")]
    [InlineData("RCPT TO:<a@b.example> FOO")]
    public void Unknown_parameter_is_555(string line) => Fails(line, 555, "5.5.4");

    [Theory]
    [InlineData("MAIL FROM:<a@b.example> SIZE=10")]
    [InlineData("MAIL FROM:<a@b.example> BODY=8BITMIME")]
    [InlineData("RCPT TO:<a@b.example> NOTIFY=NEVER")]
    public void Parameters_in_a_helo_session_are_555(string line)
    {
        var reply = Fails(line, 555, "5.5.4", extended: false);
        Assert.Contains("EHLO", reply.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("NOTIFY=NEVER", DsnNotify.Never)]
    [InlineData("NOTIFY=never", DsnNotify.Never)]
    [InlineData("NOTIFY=SUCCESS", DsnNotify.Success)]
    [InlineData("NOTIFY=SUCCESS,FAILURE", DsnNotify.Success | DsnNotify.Failure)]
    [InlineData("NOTIFY=DELAY,FAILURE,SUCCESS", DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay)]
    public void Notify_values(string param, DsnNotify notify) =>
        Assert.Equal(notify, Ok<RcptCommand>($"RCPT TO:<a@b.example> {param}").Parameters.Notify);

    [Theory]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,NEVER")]
    [InlineData("NOTIFY=SUCCESS,")]
    [InlineData("NOTIFY=,SUCCESS")]
    [InlineData("NOTIFY=SUCCESS,SUCCESS")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("NOTIFY")]
    [InlineData("ORCPT")]
    [InlineData("ORCPT=rfc822")]
    [InlineData("ORCPT=;a@b.example")]
    [InlineData("ORCPT=rfc822;")]
    [InlineData("ORCPT=rfc822;a+G0")]
    [InlineData("ORCPT=rfc 822;a")]
    [InlineData("NOTIFY=NEVER NOTIFY=NEVER")]
    public void Bad_rcpt_parameter_is_501_554(string param) => Fails($"RCPT TO:<a@b.example> {param}", 501, "5.5.4");

    [Fact]
    public void Orcpt_is_xtext_decoded()
    {
        var p = Ok<RcptCommand>("RCPT TO:<a@b.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;Bob+2BSmith+3Dx@example.com").Parameters;
        Assert.Equal("rfc822;Bob+Smith=x@example.com", p.OriginalRecipient);
        Assert.Equal(DsnNotify.Failure | DsnNotify.Delay, p.Notify);
        Assert.Equal("rfc822;Bob+2BSmith+3Dx@example.com", p.Raw["ORCPT"]);
        Assert.Equal(2, p.Raw.Count);
    }

    [Theory]
    [InlineData("DATA")]
    [InlineData("data")]
    [InlineData("DATA ")]
    public void Data(string line) => Ok<DataCommand>(line);

    [Theory]
    [InlineData("DATA x")]
    [InlineData("RSET now")]
    [InlineData("QUIT please")]
    [InlineData("TURN x")]
    [InlineData("STARTTLS x")]
    public void Argument_less_commands_with_arguments_are_501(string line) => Fails(line, 501, "5.5.4");

    [Fact]
    public void Simple_commands()
    {
        Ok<RsetCommand>("RSET");
        Ok<QuitCommand>("quit");
        Ok<TurnCommand>("TURN");
        Ok<StartTlsCommand>("StartTLS");
        Assert.Null(Ok<NoopCommand>("NOOP").Argument);
        Assert.Equal("hello there", Ok<NoopCommand>("NOOP hello there").Argument);
        Assert.Null(Ok<HelpCommand>("HELP").Topic);
        Assert.Equal("MAIL", Ok<HelpCommand>("help MAIL").Topic);
        Assert.Equal("postmaster", Ok<VrfyCommand>("VRFY postmaster").Argument);
        Assert.Equal("John Smith <js@b.example>", Ok<VrfyCommand>("vrfy John Smith <js@b.example>").Argument);
        Assert.Equal("staff", Ok<ExpnCommand>("EXPN staff").Argument);
        Assert.Equal("@example.org", Ok<EtrnCommand>("ETRN @example.org").Argument);
    }

    [Theory]
    [InlineData("VRFY")]
    [InlineData("VRFY   ")]
    [InlineData("EXPN")]
    [InlineData("ETRN")]
    public void Commands_needing_an_argument_are_501(string line) => Fails(line, 501, "5.5.4");

    [Theory]
    [InlineData("BDAT 100", 100, false)]
    [InlineData("BDAT 0 LAST", 0, true)]
    [InlineData("bdat 42 last", 42, true)]
    public void Bdat(string line, long size, bool last)
    {
        var bdat = Ok<BdatCommand>(line);
        Assert.Equal(size, bdat.ChunkSize);
        Assert.Equal(last, bdat.Last);
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT x")]
    [InlineData("BDAT -1")]
    [InlineData("BDAT 10 FIRST")]
    [InlineData("BDAT 10 LAST more")]
    [InlineData("BDAT 99999999999999999999999")]
    public void Bad_bdat_is_501(string line) => Fails(line, 501, "5.5.4");

    [Theory]
    [InlineData("AUTH PLAIN", "PLAIN", null)]
    [InlineData("auth plain dGVzdAB0ZXN0AHRlc3Q=", "PLAIN", "dGVzdAB0ZXN0AHRlc3Q=")]
    [InlineData("AUTH LOGIN =", "LOGIN", "=")]
    [InlineData("AUTH CRAM-MD5", "CRAM-MD5", null)]
    [InlineData("AUTH SCRAM-SHA-256", "SCRAM-SHA-256", null)]
    public void Auth(string line, string mechanism, string? initial)
    {
        var auth = Ok<AuthCommand>(line);
        Assert.Equal(mechanism, auth.Mechanism);
        Assert.Equal(initial, auth.InitialResponse);
    }

    [Theory]
    [InlineData("AUTH")]
    [InlineData("AUTH PLAIN a b")]
    [InlineData("AUTH PL@IN")]
    [InlineData("AUTH ABCDEFGHIJKLMNOPQRSTU")]
    public void Bad_auth_is_501(string line) => Fails(line, 501, "5.5.4");

    [Fact]
    public void Auth_line_may_exceed_512_up_to_12288()
    {
        Ok<AuthCommand>("AUTH PLAIN " + new string('A', 4000));
        Fails("AUTH PLAIN " + new string('A', 12280), 500, "5.5.6");
    }

    [Theory]
    [InlineData("FOO", "FOO")]
    [InlineData("foo bar baz", "FOO")]
    [InlineData("XFORWARD ADDR=1.2.3.4", "XFORWARD")]
    [InlineData("MAILX FROM:<a@b.example>", "MAILX")]
    [InlineData("ÉHLO x", "ÉHLO")]
    [InlineData("GET / HTTP/1.1", "GET")]
    public void Unknown_verb_is_a_command_not_an_error(string line, string verb)
    {
        var unknown = Ok<UnknownCommand>(line);
        Assert.Equal(verb, unknown.VerbText);
        Assert.Equal(line, unknown.Line);
        Assert.Equal(SmtpVerb.Unknown, unknown.Verb);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_line_is_500_552(string line) => Fails(line, 500, "5.5.2");

    [Theory]
    [InlineData("MAIL FROM:<a@b.example>\0")]
    [InlineData("NOOP \0")]
    [InlineData("\0")]
    [InlineData("MAIL FROM:<a@b.ex\rample>")]
    [InlineData("NOOP a\rb")]
    [InlineData("NOOP a\nb")]
    public void Nul_and_bare_cr_are_500_552(string line) => Fails(line, 500, "5.5.2");

    [Fact]
    public void Trailing_cr_is_tolerated() => Ok<QuitCommand>("QUIT\r");

    [Fact]
    public void Invalid_utf8_is_500_552()
    {
        var r = SmtpCommandParser.Parse([.. "NOOP "u8, 0xC3, 0x28], new ParserOptions(true, false));
        Assert.Equal(500, r.Error!.Code);
        Assert.Equal("5.5.2", r.Error.EnhancedCode);
        r = SmtpCommandParser.Parse([0xFF, 0xFE], new ParserOptions(true, true));
        Assert.Equal(500, r.Error!.Code);
    }

    [Fact]
    public void Command_line_of_512_is_accepted_and_513_is_500_556()
    {
        // Lengths include the CRLF that the caller has stripped.
        Ok<NoopCommand>("NOOP " + new string('x', 510 - 5));
        Fails("NOOP " + new string('x', 511 - 5), 500, "5.5.6");
        Fails("FOO " + new string('x', 600), 500, "5.5.6");
    }

    [Fact]
    public void Error_replies_format_with_enhanced_code()
    {
        var r = Parse("MAIL FROM:<a@b.example> FOO=1");
        Assert.Equal("555 5.5.4 Unsupported parameter FOO\r\n", r.Error!.ToString());
    }

    [Fact]
    public void Results_compare_by_value()
    {
        Assert.Equal(new RcptCommand(new SmtpAddress("a", "b.example"), RcptParameters.Empty), Ok<RcptCommand>("RCPT TO:<a@b.example>"));
        Assert.Equal(Ok<DataCommand>("DATA"), new DataCommand());
    }
}
