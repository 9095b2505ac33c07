// DsnBuilder: every DSN is parsed back with MimeKit and checked part by part and field by field.
using System.Text;
using System.Text.RegularExpressions;
using Mta.Abstractions;
using Mta.Engine.Bounces;
using Mta.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mta.Engine.Tests.Bounces;

public sealed class DsnBuilderTests
{
    private const string Host = "mx.example.org";
    private static readonly DateTimeOffset Arrival = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly DateTimeOffset Now = new(2025, 3, 5, 8, 9, 10, TimeSpan.FromHours(1));
    private static readonly SmtpAddress Sender = new("alice", "sender.test");
    private static readonly SmtpAddress Bob = new("bob", "remote.test");
    private static readonly SmtpAddress Carol = new("carol", "remote.test");

    private const string OriginalText =
        "Received: from client.test ([192.0.2.9]) by mx.example.org\r\n" +
        "From: Alice <alice@sender.test>\r\n" +
        "To: bob@remote.test\r\n" +
        "Subject: Quarterly figures\r\n" +
        "Message-ID: <orig-1@sender.test>\r\n" +
        "\r\n" +
        "BODY-MARKER line one\r\n" +
        "line two\r\n";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static DsnRecipient Failed(SmtpAddress address, DsnNotify notify = DsnNotify.Default, string? orcpt = null) =>
        new(new EnvelopeRecipient(address, notify, orcpt), DsnAction.Failed, "5.1.1",
            "550 5.1.1 <" + address + ">: no such user",
            "host mx.remote.test[192.0.2.25] said: 550 5.1.1 <" + address + ">: no such user (in reply to RCPT TO command)",
            "mx.remote.test[192.0.2.25]", Now.AddMinutes(-1), null);

    private static DsnRecipient Delayed(SmtpAddress address) =>
        new(new EnvelopeRecipient(address), DsnAction.Delayed, "4.4.1", null,
            "connect to mx.remote.test[192.0.2.25]:25: Connection refused", null, Now.AddMinutes(-2), Arrival.AddDays(5));

    private static DsnRecipient Success(SmtpAddress address, DsnAction action) =>
        new(new EnvelopeRecipient(address, DsnNotify.Success), action, "2.0.0", "250 2.0.0 Ok: queued as XYZ",
            "delivered via mx.remote.test[192.0.2.25]: 250 2.0.0 Ok: queued as XYZ", "mx.remote.test", Now, null);

    private static DsnRequest Request(IMessageContent original, params DsnRecipient[] recipients) => new(
        ReportingMta: Host, QueueId: "4XyZ01abC", ArrivalDate: Arrival, OriginalSender: Sender, EnvelopeId: "env-42",
        Ret: DsnReturn.Unspecified, ReceivedFromMta: "client.test", Recipients: recipients, OriginalMessage: original,
        ReturnSizeLimit: 50_000, To: Sender, IsDoubleBounce: false, Now: Now);

    /// <summary>Builds, writes for the spool, and parses back: what a receiver of the DSN sees.</summary>
    private static async Task<(MimeMessage Message, MultipartReport Report, byte[] Wire)> BuildAndParse(DsnRequest request)
    {
        var built = await DsnBuilder.BuildAsync(request, Ct);
        var wire = DsnBuilder.ToWireBytes(built);
        var parsed = await MimeMessage.LoadAsync(new MemoryStream(wire), Ct);
        var report = Assert.IsType<MultipartReport>(parsed.Body);
        return (parsed, report, wire);
    }

    private static HeaderListCollection Groups(MultipartReport report) =>
        Assert.IsType<MessageDeliveryStatus>(report[1]).StatusGroups;

    private static string Text(MultipartReport report) => Assert.IsType<TextPart>(report[0]).Text;

    /// <summary>The text with line breaks and indentation as single spaces, to match wrapped sentences.</summary>
    private static string Flat(string text) => Regex.Replace(text, @"\s+", " ");

    private static string EntityText(MimeEntity entity)
    {
        using var stream = new MemoryStream();
        entity.WriteTo(stream, Ct);
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task Failure_report_has_the_rfc3464_structure_and_every_field()
    {
        var original = new InMemoryMessageContent(OriginalText);
        var (message, report, _) = await BuildAndParse(Request(original, Failed(Bob, orcpt: "rfc822;bob@remote.test")));

        // Top level.
        Assert.Equal("multipart/report", message.Body!.ContentType.MimeType);
        Assert.Equal("delivery-status", message.Body.ContentType.Parameters["report-type"]);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal("Mail Delivery System", message.From.Mailboxes.Single().Name);
        Assert.Equal("MAILER-DAEMON@" + Host, message.From.Mailboxes.Single().Address);
        Assert.Equal("alice@sender.test", message.To.Mailboxes.Single().Address);
        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal(Now, message.Date);
        Assert.EndsWith("@" + Host, message.MessageId);
        Assert.Equal("auto-replied", message.Headers["Auto-Submitted"]);
        Assert.Equal("1.0", message.Headers[HeaderId.MimeVersion]);
        Assert.Equal("orig-1@sender.test", message.InReplyTo);
        Assert.Equal(["orig-1@sender.test"], message.References);

        // Three parts of the right types.
        Assert.Equal(3, report.Count);
        Assert.Equal("text/plain", report[0].ContentType.MimeType);
        Assert.Equal("utf-8", report[0].ContentType.Charset);
        Assert.Equal("message/delivery-status", report[1].ContentType.MimeType);
        Assert.Equal("message/rfc822", report[2].ContentType.MimeType);

        // Human part.
        var text = Text(report);
        Assert.StartsWith("This is the mail system at host mx.example.org.", text);
        Assert.Contains("could not be delivered to one or more", Flat(text));
        Assert.Contains("\n<bob@remote.test>: host mx.remote.test[192.0.2.25] said: 550 5.1.1", text.ReplaceLineEndings("\n"));
        Assert.Contains("<bob@remote.test>: host mx.remote.test[192.0.2.25] said: 550 5.1.1 <bob@remote.test>: no such user (in reply to RCPT TO command)", Flat(text));
        Assert.Contains("\n    ", text.ReplaceLineEndings("\n")); // the long recipient line goes on indented
        Assert.Contains("original message is attached", text);
        Assert.DoesNotContain("Postmaster", text);
        Assert.All(text.ReplaceLineEndings("\n").Split('\n'), l => Assert.True(l.Length <= 72, l));
        Assert.Equal(ContentEncoding.SevenBit, Assert.IsType<TextPart>(report[0]).ContentTransferEncoding);

        // Per-message fields.
        var groups = Groups(report);
        Assert.Equal(2, groups.Count);
        var perMessage = groups[0];
        Assert.Equal("env-42", perMessage["Original-Envelope-Id"]);
        Assert.Equal("dns; mx.example.org", perMessage["Reporting-MTA"]);
        Assert.Equal("dns; client.test", perMessage["Received-From-MTA"]);
        Assert.Equal("4XyZ01abC", perMessage["X-Mta-Queue-ID"]);
        Assert.True(DateUtils.TryParse(perMessage["Arrival-Date"], out DateTimeOffset arrival));
        Assert.Equal(Arrival, arrival);

        // Per-recipient fields.
        var rcpt = groups[1];
        Assert.Equal("rfc822;bob@remote.test", rcpt["Original-Recipient"]);
        Assert.Equal("rfc822; bob@remote.test", rcpt["Final-Recipient"]);
        Assert.Equal("failed", rcpt["Action"]);
        Assert.Equal("5.1.1", rcpt["Status"]);
        Assert.Equal("dns; mx.remote.test", rcpt["Remote-MTA"]);
        Assert.Equal("smtp; 550 5.1.1 <bob@remote.test>: no such user", rcpt["Diagnostic-Code"]);
        Assert.True(DateUtils.TryParse(rcpt["Last-Attempt-Date"], out DateTimeOffset last));
        Assert.Equal(Now.AddMinutes(-1), last);
        Assert.Null(rcpt["Will-Retry-Until"]);

        // The original, whole.
        var returned = Assert.IsType<MessagePart>(report[2]).Message;
        Assert.Equal("Quarterly figures", returned!.Subject);
        Assert.Contains("BODY-MARKER line one", returned.TextBody);

        // Read once, as a stream; never parsed through GetMimeMessageAsync.
        Assert.Equal(1, original.OpenCount);
        Assert.Equal(0, original.ParseCount);
    }

    [Fact]
    public async Task Delay_report_says_until_when_and_uses_local_diagnostic()
    {
        var (message, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), Delayed(Bob)));

        Assert.Equal("Delayed Mail (still being retried)", message.Subject);
        var rcpt = Groups(report)[1];
        Assert.Equal("delayed", rcpt["Action"]);
        Assert.Equal("4.4.1", rcpt["Status"]);
        Assert.Equal("X-Mta; connect to mx.remote.test[192.0.2.25]:25: Connection refused", rcpt["Diagnostic-Code"]);
        Assert.Null(rcpt["Remote-MTA"]);
        Assert.Null(rcpt["Original-Recipient"]);
        Assert.True(DateUtils.TryParse(rcpt["Will-Retry-Until"], out DateTimeOffset until));
        Assert.Equal(Arrival.AddDays(5), until);

        var text = Flat(Text(report));
        Assert.Contains("has not yet been delivered", text);
        Assert.Contains("will keep trying until " + DateUtils.FormatDate(Arrival.AddDays(5)), text);
        Assert.Contains("<bob@remote.test>: connect to mx.remote.test[192.0.2.25]:25: Connection refused", text);
    }

    [Fact]
    public async Task Will_Retry_Until_is_written_only_for_delayed()
    {
        var failed = Failed(Bob) with { WillRetryUntil = Arrival.AddDays(5) };
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), failed));
        Assert.Null(Groups(report)[1]["Will-Retry-Until"]);
    }

    [Theory]
    [InlineData(DsnAction.Failed, "Undelivered Mail Returned to Sender", "failed", "could not be delivered")]
    [InlineData(DsnAction.Delayed, "Delayed Mail (still being retried)", "delayed", "has not yet been delivered")]
    [InlineData(DsnAction.Delivered, "Successful Mail Delivery Report", "delivered", "was successfully delivered")]
    [InlineData(DsnAction.Relayed, "Successful Mail Delivery Report", "relayed", "was successfully relayed")]
    [InlineData(DsnAction.Expanded, "Successful Mail Delivery Report", "expanded", "mailing lists or aliases")]
    public async Task Subject_action_and_wording_follow_the_action(DsnAction action, string subject, string actionField, string wording)
    {
        var recipient = new DsnRecipient(new EnvelopeRecipient(Bob, DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay),
            action, action switch { DsnAction.Failed => "5.0.0", DsnAction.Delayed => "4.0.0", _ => "2.0.0" },
            null, null, null, null, null);
        var (message, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), recipient));

        Assert.Equal(subject, message.Subject);
        Assert.Equal(actionField, Groups(report)[1]["Action"]);
        Assert.Null(Groups(report)[1]["Diagnostic-Code"]); // neither a reply nor a detail: omitted
        Assert.Contains(wording, Flat(Text(report)));
        Assert.Contains("<bob@remote.test>: ", Text(report));
    }

    // A success says 2.x.x (RFC 3464 2.3.4), a failure or delay never 2.x.x; a delay is class 4; a failure keeps a class
    // 4 code, the convention for a message that expired (4.4.7).
    [Theory]
    [InlineData(DsnAction.Delivered, "4.0.0", "2.0.0")]
    [InlineData(DsnAction.Relayed, "5.1.1", "2.0.0")]
    [InlineData(DsnAction.Expanded, "4.2.2", "2.0.0")]
    [InlineData(DsnAction.Delivered, "2.1.5", "2.1.5")]
    [InlineData(DsnAction.Failed, "2.0.0", "5.0.0")]
    [InlineData(DsnAction.Failed, "4.4.7", "4.4.7")]
    [InlineData(DsnAction.Failed, "5.4.6", "5.4.6")]
    [InlineData(DsnAction.Delayed, "5.1.1", "4.1.1")]
    [InlineData(DsnAction.Delayed, "2.0.0", "4.0.0")]
    [InlineData(DsnAction.Delayed, "4.4.1", "4.4.1")]
    public async Task Status_class_always_agrees_with_the_action(DsnAction action, string given, string expected)
    {
        var recipient = new DsnRecipient(new EnvelopeRecipient(Bob, DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay),
            action, given, null, "detail", null, null, null);
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), recipient));

        Assert.Equal(expected, Groups(report)[1]["Status"]);
    }

    [Fact]
    public async Task Ret_hdrs_returns_only_the_header_section()
    {
        var original = new InMemoryMessageContent(OriginalText);
        var (_, report, _) = await BuildAndParse(Request(original, Failed(Bob)) with { Ret = DsnReturn.Headers });

        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType);
        var headers = Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.Equal("Quarterly figures", headers.Message!.Subject);
        var raw = EntityText(report[2]);
        Assert.Contains("Message-ID: <orig-1@sender.test>", raw);
        Assert.DoesNotContain("BODY-MARKER", raw);
        Assert.Contains("header of your original message is attached", Flat(Text(report)));
    }

    [Fact]
    public async Task Ret_hdrs_does_not_read_a_large_body()
    {
        var big = OriginalText + string.Concat(Enumerable.Repeat(new string('x', 998) + "\r\n", 5000));
        var original = new InMemoryMessageContent(big);
        var (_, report, _) = await BuildAndParse(Request(original, Failed(Bob)) with { Ret = DsnReturn.Headers });

        Assert.IsType<TextRfc822Headers>(report[2]);
        Assert.True(original.BytesRead < 64 * 1024, $"read {original.BytesRead} octets");
    }

    [Fact]
    public async Task Ret_full_returns_the_whole_message()
    {
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), Failed(Bob)) with { Ret = DsnReturn.Full });

        Assert.Equal("message/rfc822", report[2].ContentType.MimeType);
        Assert.Contains("BODY-MARKER", EntityText(report[2]));
    }

    [Theory]
    [InlineData(DsnReturn.Full)]
    [InlineData(DsnReturn.Unspecified)]
    public async Task Over_the_size_limit_only_the_header_is_returned(DsnReturn ret)
    {
        var original = new InMemoryMessageContent(OriginalText);
        var request = Request(original, Failed(Bob)) with { Ret = ret, ReturnSizeLimit = OriginalText.Length - 1 };
        var (_, report, _) = await BuildAndParse(request);

        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType);
        Assert.DoesNotContain("BODY-MARKER", EntityText(report[2]));
        Assert.Contains($"larger than {OriginalText.Length - 1} octets", Flat(Text(report)));
        Assert.Equal(1, original.OpenCount);
    }

    [Fact]
    public async Task At_exactly_the_size_limit_the_whole_message_is_returned()
    {
        var request = Request(new InMemoryMessageContent(OriginalText), Failed(Bob)) with { ReturnSizeLimit = OriginalText.Length };
        var (_, report, _) = await BuildAndParse(request);
        Assert.Equal("message/rfc822", report[2].ContentType.MimeType);
    }

    [Fact]
    public async Task A_size_that_understates_the_message_still_caps_the_return()
    {
        var big = OriginalText + string.Concat(Enumerable.Repeat("filler line of the body\r\n", 4000));
        var original = new InMemoryMessageContent(Encoding.ASCII.GetBytes(big), declaredSize: 100);
        var (_, report, _) = await BuildAndParse(Request(original, Failed(Bob)) with { ReturnSizeLimit = 10_000 });

        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType);
        Assert.True(original.BytesRead <= 10_001 + 16 * 1024, $"read {original.BytesRead} octets");
    }

    [Theory]
    [InlineData(DsnAction.Delivered)]
    [InlineData(DsnAction.Relayed)]
    [InlineData(DsnAction.Expanded)]
    public async Task Success_reports_return_headers_unless_ret_full(DsnAction action)
    {
        var content = new InMemoryMessageContent(OriginalText);
        var (_, byDefault, _) = await BuildAndParse(Request(content, Success(Bob, action)));
        Assert.Equal("text/rfc822-headers", byDefault[2].ContentType.MimeType);

        var (_, full, _) = await BuildAndParse(Request(content, Success(Bob, action)) with { Ret = DsnReturn.Full });
        Assert.Equal("message/rfc822", full[2].ContentType.MimeType);

        var rcpt = Groups(full)[1];
        Assert.Equal("2.0.0", rcpt["Status"]);
        Assert.Equal("smtp; 250 2.0.0 Ok: queued as XYZ", rcpt["Diagnostic-Code"]);
    }

    [Fact]
    public async Task Orcpt_is_preserved_with_its_address_type()
    {
        var recipients = new[]
        {
            Failed(Bob, orcpt: "rfc822;Bob.Alias+tag@Example.ORG"),
            Failed(Carol, orcpt: "x400;c=us;a=att;s=carol"),
            Failed(new SmtpAddress("dave", "remote.test"), orcpt: "utf-8;d\\x{E4}ve@example.org"),
            Failed(new SmtpAddress("erin", "remote.test"), orcpt: "utf-8;ërin@example.org"),
            Failed(new SmtpAddress("fred", "remote.test"), orcpt: "rfc822;frëd+x@example.org"),
        };
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), recipients));
        var groups = Groups(report);

        Assert.Equal(6, groups.Count);
        Assert.Equal("rfc822;Bob.Alias+tag@Example.ORG", groups[1]["Original-Recipient"]);
        Assert.Equal("x400;c=us;a=att;s=carol", groups[2]["Original-Recipient"]);
        Assert.Equal("utf-8;d\\x{E4}ve@example.org", groups[3]["Original-Recipient"]); // already 7-bit: untouched
        Assert.Equal("utf-8;\\x{EB}rin@example.org", groups[4]["Original-Recipient"]);
        // rfc822 cannot carry UTF-8: it becomes utf-8 xtext, with the xtext specials escaped too.
        Assert.Equal("utf-8;fr\\x{EB}d\\x{2B}x@example.org", groups[5]["Original-Recipient"]);
        Assert.Equal("rfc822; carol@remote.test", groups[2]["Final-Recipient"]);
    }

    [Fact]
    public async Task Utf8_recipient_uses_the_utf8_address_type_and_the_dsn_stays_7bit()
    {
        var jorg = new SmtpAddress("jörg", "bücher.example");
        var (_, report, wire) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), Failed(jorg)));

        Assert.Equal("utf-8; j\\x{F6}rg@b\\x{FC}cher.example", Groups(report)[1]["Final-Recipient"]);
        Assert.Contains("<jörg@bücher.example>: ", Text(report)); // people read the real address
        Assert.Equal(ContentEncoding.QuotedPrintable, Assert.IsType<TextPart>(report[0]).ContentTransferEncoding);
        Assert.All(wire, b => Assert.True(b < 0x80));
    }

    [Fact]
    public async Task Non_ascii_in_diagnostics_does_not_leak_into_the_report_part()
    {
        var r = Failed(Bob) with { DiagnosticCode = "550 5.1.1 Benutzer unbekannt: Müller", RemoteMta = "mx.bücher.example" };
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), r));

        var raw = EntityText(report[1]);
        Assert.Contains("Diagnostic-Code: smtp; 550 5.1.1 Benutzer unbekannt: M?ller", raw);
        Assert.Contains("Remote-MTA: dns; mx.b?cher.example", raw);
        Assert.DoesNotContain("=?", raw);
    }

    [Fact]
    public async Task Double_bounce_goes_to_the_postmaster_and_says_why()
    {
        var postmaster = new SmtpAddress("postmaster", Host);
        var request = Request(new InMemoryMessageContent(OriginalText), Failed(Bob)) with
        {
            OriginalSender = SmtpAddress.Null, To = postmaster, IsDoubleBounce = true,
        };
        var (message, report, _) = await BuildAndParse(request);

        Assert.Equal("Postmaster Copy: Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal("postmaster@" + Host, message.To.Mailboxes.Single().Address);
        var text = Flat(Text(report));
        Assert.Contains("The original sender was <>", text);
        Assert.Contains("goes to the postmaster", text);
        Assert.Contains("the message could not be delivered", text);
    }

    [Fact]
    public async Task Double_bounce_of_a_delay_gets_the_prefix_too()
    {
        var request = Request(new InMemoryMessageContent(OriginalText), Delayed(Bob)) with
        {
            OriginalSender = SmtpAddress.Null, To = new SmtpAddress("postmaster", Host), IsDoubleBounce = true,
        };
        var (message, _, _) = await BuildAndParse(request);
        Assert.Equal("Postmaster Copy: Delayed Mail (still being retried)", message.Subject);
    }

    [Theory]
    [InlineData(DsnReturn.Unspecified)]
    [InlineData(DsnReturn.Headers)]
    public async Task Garbage_original_still_gives_a_dsn_with_its_raw_header_as_text(DsnReturn ret)
    {
        var garbage = new byte[] { 0x00, 0x01, 0x02, (byte)'n', (byte)'o', (byte)' ', (byte)'h', (byte)'d', (byte)'r', 0xFF, 0xFE, (byte)'\r', (byte)'\n', (byte)'\r', (byte)'\n', (byte)'b' };
        var (message, report, wire) = await BuildAndParse(Request(new InMemoryMessageContent(garbage), Failed(Bob)) with { Ret = ret });

        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal(3, report.Count);
        var raw = Assert.IsType<TextPart>(report[2]);
        Assert.Equal("text/plain", raw.ContentType.MimeType);
        Assert.Contains("no hdr", raw.Text);
        Assert.Contains("could not be parsed", Flat(Text(report)));
        Assert.Equal("failed", Groups(report)[1]["Action"]);
        Assert.All(wire, b => Assert.True(b < 0x80)); // transfer-encoded, so the NULs cannot reach the wire raw
    }

    [Fact]
    public async Task Header_line_without_colon_is_tolerated()
    {
        var text = "Subject: odd\r\nthis line has no colon\r\nFrom: a@b.test\r\n\r\nbody\r\n";
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent(text), Failed(Bob)));
        Assert.Equal(3, report.Count);
        Assert.Equal("failed", Groups(report)[1]["Action"]);
    }

    [Fact]
    public async Task Empty_original_still_gives_a_dsn()
    {
        var (_, report, _) = await BuildAndParse(Request(new InMemoryMessageContent([]), Failed(Bob)));
        Assert.Equal(3, report.Count);
        Assert.Equal("failed", Groups(report)[1]["Action"]);
    }

    [Fact]
    public async Task Unreadable_original_gives_a_dsn_without_it()
    {
        var original = new InMemoryMessageContent(OriginalText) { OpenFailure = new IOException("spool file missing") };
        var (message, report, _) = await BuildAndParse(Request(original, Failed(Bob)));

        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal(2, report.Count);
        Assert.Equal("failed", Groups(report)[1]["Action"]);
        Assert.Contains("could not be read", Flat(Text(report)));
    }

    [Fact]
    public async Task Cancellation_is_not_swallowed()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            DsnBuilder.BuildAsync(Request(new InMemoryMessageContent(OriginalText), Failed(Bob)), cts.Token));
    }

    [Fact]
    public async Task Mixed_actions_report_each_recipient_and_lead_with_the_failure()
    {
        var request = Request(new InMemoryMessageContent(OriginalText), Failed(Bob), Delayed(Carol),
            Success(new SmtpAddress("dave", "remote.test"), DsnAction.Delivered));
        var (message, report, _) = await BuildAndParse(request);

        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        var groups = Groups(report);
        Assert.Equal(4, groups.Count);
        Assert.Equal(["failed", "delayed", "delivered"], groups.Skip(1).Select(g => g["Action"]));
        Assert.Equal(["rfc822; bob@remote.test", "rfc822; carol@remote.test", "rfc822; dave@remote.test"],
            groups.Skip(1).Select(g => g["Final-Recipient"]));
        var text = Flat(Text(report));
        Assert.Contains("could not be delivered", text);
        Assert.Contains("has not yet been delivered", text);
        Assert.Contains("was successfully delivered", text);
        Assert.Equal("message/rfc822", report[2].ContentType.MimeType); // a failure is in it: whole message
    }

    [Fact]
    public async Task Invalid_status_is_replaced_and_optional_fields_are_omitted()
    {
        var r = new DsnRecipient(new EnvelopeRecipient(Bob), DsnAction.Failed, "bogus", null, null, null, null, null);
        var request = Request(new InMemoryMessageContent(OriginalText), r) with { EnvelopeId = null, ReceivedFromMta = null };
        var (_, report, _) = await BuildAndParse(request);

        var groups = Groups(report);
        Assert.Null(groups[0]["Original-Envelope-Id"]);
        Assert.Null(groups[0]["Received-From-MTA"]);
        Assert.Equal("5.0.0", groups[1]["Status"]);
        Assert.Null(groups[1]["Remote-MTA"]);
        Assert.Null(groups[1]["Diagnostic-Code"]);
        Assert.Null(groups[1]["Last-Attempt-Date"]);
        Assert.Contains("<bob@remote.test>: delivery failed (status 5.0.0)", Flat(Text(report)));
    }

    [Fact]
    public async Task Long_and_multi_line_diagnostics_come_back_as_one_line()
    {
        var reply = "550 5.7.1 " + string.Join(' ', Enumerable.Repeat("policy", 40));
        var r = Failed(Bob) with { DiagnosticCode = reply.Replace("policy policy", "policy\r\npolicy", StringComparison.Ordinal) };
        var (_, report, wire) = await BuildAndParse(Request(new InMemoryMessageContent(OriginalText), r));

        Assert.Equal("smtp; " + reply, Groups(report)[1]["Diagnostic-Code"]?.Replace("  ", " ", StringComparison.Ordinal));
        Assert.All(Encoding.ASCII.GetString(wire).Split("\r\n"), line => Assert.True(line.Length <= 998));
    }

    [Fact]
    public async Task ToWireBytes_has_only_crlf_line_ends_and_parses_back()
    {
        // An original with bare LF line ends: whatever the spool holds, the DSN's bytes use CRLF only.
        var lfOriginal = OriginalText.Replace("\r\n", "\n", StringComparison.Ordinal) + "stray\rcarriage return\n";
        var built = await DsnBuilder.BuildAsync(Request(new InMemoryMessageContent(lfOriginal), Failed(Bob)), Ct);
        var wire = DsnBuilder.ToWireBytes(built);

        for (var i = 0; i < wire.Length; i++)
        {
            if (wire[i] == '\n') Assert.True(i > 0 && wire[i - 1] == '\r', $"bare LF at {i}");
            if (wire[i] == '\r') Assert.True(i + 1 < wire.Length && wire[i + 1] == '\n', $"bare CR at {i}");
        }
        Assert.Equal("\r\n"u8.ToArray(), wire[^2..]);

        var parsed = await MimeMessage.LoadAsync(new MemoryStream(wire), Ct);
        Assert.Equal(built.MessageId, parsed.MessageId);
        Assert.Equal(built.Subject, parsed.Subject);
        var report = Assert.IsType<MultipartReport>(parsed.Body);
        Assert.Equal(3, report.Count);
        Assert.Equal("Quarterly figures", Assert.IsType<MessagePart>(report[2]).Message!.Subject);
    }

    [Fact]
    public async Task Every_dsn_gets_its_own_message_id()
    {
        var request = Request(new InMemoryMessageContent(OriginalText), Failed(Bob));
        var first = await DsnBuilder.BuildAsync(request, Ct);
        var second = await DsnBuilder.BuildAsync(request, Ct);
        Assert.NotEqual(first.MessageId, second.MessageId);
        Assert.Contains("4XyZ01abC", first.MessageId);
    }

    [Fact]
    public async Task Programming_errors_throw()
    {
        var content = new InMemoryMessageContent(OriginalText);
        await Assert.ThrowsAsync<ArgumentNullException>(() => DsnBuilder.BuildAsync(null!, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => DsnBuilder.BuildAsync(Request(content), Ct));
        await Assert.ThrowsAsync<ArgumentException>(() =>
            DsnBuilder.BuildAsync(Request(content, Failed(Bob)) with { To = SmtpAddress.Null }, Ct));
        Assert.Throws<ArgumentNullException>(() => DsnBuilder.ToWireBytes(null!));
    }
}
