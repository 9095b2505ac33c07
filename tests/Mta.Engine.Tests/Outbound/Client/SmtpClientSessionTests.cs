// SMTP client sessions against the scriptable test server: greeting, EHLO/HELO, STARTTLS, AUTH, drops and timeouts.
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Testing;
using static Mta.Engine.Tests.Outbound.Client.ClientHarness;

namespace Mta.Engine.Tests.Outbound.Client;

public sealed class SmtpClientSessionTests
{
    [Fact]
    public async Task Greeting_421_fails_at_the_greeting()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "421 4.3.2 busy, try later" });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, null, null, cts.Token));
        Assert.Equal(SessionStage.Greeting, e.Stage);
        Assert.Equal(421, e.Reply!.Code);
        Assert.False(e.TransactionStarted);
        Assert.Equal("host test.local[127.0.0.1] refused to talk to us: 421 4.3.2 busy, try later", e.Message);
    }

    [Fact]
    public async Task Greeting_554_fails_at_the_greeting_and_says_quit()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "554 5.7.1 no service for you" });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, null, null, cts.Token));
        Assert.Equal(SessionStage.Greeting, e.Stage);
        Assert.Equal(554, e.Reply!.Code);
        Assert.Equal(["QUIT"], server.Commands);
    }

    [Theory]
    [InlineData("hello there")]
    [InlineData("220-first\r\n250 mixed codes")]
    [InlineData("220 ")]
    public async Task Malformed_greeting_is_a_protocol_error(string greeting)
    {
        using var cts = Bound();
        if (greeting == "220 ") greeting += new string('x', 5000);
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => greeting });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, null, null, cts.Token));
        Assert.Equal(SessionStage.Greeting, e.Stage);
        Assert.StartsWith("protocol error: malformed reply from test.local[127.0.0.1]", e.Message);
        // A client out of step with the server does not say QUIT: it just closes.
        Assert.Empty(server.Commands);
    }

    [Fact]
    public async Task Multi_line_greeting_is_read_whole()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = _ => "220-test.local ESMTP\r\n220-no UCE\r\n220 welcome" });
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        Assert.Equal(RecipientStatus.Delivered, result.Recipients[0].Status);
    }

    [Fact]
    public async Task Greeting_can_differ_per_connection()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Greeting = n => n == 1 ? "421 4.3.2 busy" : "220 test.local ready" });
        await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, null, null, cts.Token));
        await using var client = await OpenAsync(server, null, null, cts.Token);
        Assert.True(client.IsUsable);
        Assert.Equal(2, server.ConnectionCount);
    }

    [Fact]
    public async Task Ehlo_refused_falls_back_to_helo()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { RefuseEhlo = true });
        var message = Message();
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.May), null, cts.Token))
        {
            Assert.False(client.Capabilities.IsExtended);
            Assert.False(client.Capabilities.Pipelining);
            var result = await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
            Assert.Equal(RecipientStatus.Delivered, result.Recipients[0].Status);
            Assert.False(result.DsnPassedOn);
        }
        Assert.Equal(["EHLO client.test", "HELO client.test", "MAIL FROM:<sender@example.org>", "RCPT TO:<a@example.net>", "DATA", "QUIT"],
            server.Commands);
        Assert.Equal("client.test", server.Received[0].HeloName);
    }

    [Fact]
    public async Task Opportunistic_tls_when_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { OfferStartTls = true });
        var message = Message();
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.May), null, cts.Token))
        {
            Assert.NotNull(client.Tls);
            Assert.Contains(client.Tls!.Protocol, new[] { "TLSv1.2", "TLSv1.3" });
            Assert.False(string.IsNullOrEmpty(client.Tls.Cipher));
            // The capabilities are those of the second EHLO: STARTTLS is no longer offered.
            Assert.False(client.Capabilities.StartTls);
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        Assert.True(Assert.Single(server.Received).Tls);
        Assert.Equal(["EHLO client.test", "STARTTLS", "EHLO client.test"], server.Commands.Take(3));
    }

    [Fact]
    public async Task Opportunistic_tls_carries_on_in_clear_text_when_not_offered()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message();
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.May), null, cts.Token))
        {
            Assert.Null(client.Tls);
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        Assert.False(Assert.Single(server.Received).Tls);
        Assert.DoesNotContain("STARTTLS", server.Commands);
    }

    [Fact]
    public async Task Tls_policy_none_never_starts_tls()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { OfferStartTls = true });
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.None), null, cts.Token))
        {
            Assert.Null(client.Tls);
            Assert.True(client.Capabilities.StartTls);
        }
        Assert.DoesNotContain("STARTTLS", server.Commands);
    }

    [Theory]
    [InlineData(OutboundTlsPolicy.Encrypt)]
    [InlineData(OutboundTlsPolicy.Verify)]
    public async Task Required_tls_not_offered_fails_at_starttls(OutboundTlsPolicy policy)
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, Settings(policy), null, cts.Token));
        Assert.Equal(SessionStage.StartTls, e.Stage);
        Assert.Equal("TLS is required for this destination but test.local[127.0.0.1] does not offer STARTTLS", e.Message);
        Assert.False(e.TransactionStarted);
        Assert.Equal("QUIT", server.Commands[^1]);
    }

    [Fact]
    public async Task Encrypt_accepts_a_self_signed_certificate()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { OfferStartTls = true });
        await using var client = await OpenAsync(server, Settings(OutboundTlsPolicy.Encrypt), null, cts.Token);
        Assert.NotNull(client.Tls);
    }

    [Fact]
    public async Task Verify_refuses_a_self_signed_certificate()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { OfferStartTls = true });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, Settings(OutboundTlsPolicy.Verify), null, cts.Token));
        Assert.Equal(SessionStage.StartTls, e.Stage);
        Assert.StartsWith("TLS handshake with test.local[127.0.0.1] failed", e.Message);
        Assert.DoesNotContain(server.Commands, c => c.StartsWith("MAIL", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Starttls_refused_fails_at_starttls()
    {
        using var cts = Bound();
        // STARTTLS announced but refused when asked.
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["PIPELINING", "STARTTLS"] });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, Settings(OutboundTlsPolicy.May), null, cts.Token));
        Assert.Equal(SessionStage.StartTls, e.Stage);
        Assert.Equal(502, e.Reply!.Code);
        Assert.EndsWith("(in reply to STARTTLS command)", e.Message);
    }

    [Fact]
    public async Task Auth_plain_over_tls_succeeds_and_never_logs_the_secret()
    {
        using var cts = Bound();
        var logger = new CapturingLogger();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            OfferStartTls = true,
            AuthUsers = new() { ["alice"] = "s3cret-pw" },
        });
        var message = Message();
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.Encrypt, "alice", "s3cret-pw"), logger, cts.Token))
        {
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        Assert.Equal("alice", Assert.Single(server.Received).AuthUser);
        Assert.Contains(server.Commands, c => c.StartsWith("AUTH PLAIN ", StringComparison.Ordinal));
        var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0alice\0s3cret-pw"));
        Assert.Contains(logger.Lines, l => l.Contains("AUTH PLAIN <redacted>", StringComparison.Ordinal));
        Assert.DoesNotContain("s3cret-pw", logger.All);
        Assert.DoesNotContain(plain, logger.All);
    }

    [Fact]
    public async Task Auth_login_when_plain_is_not_offered()
    {
        using var cts = Bound();
        var logger = new CapturingLogger();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            AuthUsers = new() { ["bob"] = "hunter2" },
            AuthMechanisms = "LOGIN",
            AllowPlainAuth = true,
        });
        var message = Message();
        // Clear text is allowed only because the target is loopback.
        await using (var client = await OpenAsync(server, Settings(OutboundTlsPolicy.None, "bob", "hunter2"), logger, cts.Token))
        {
            Assert.Null(client.Tls);
            await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        }
        Assert.Equal("bob", Assert.Single(server.Received).AuthUser);
        Assert.Contains("AUTH LOGIN", server.Commands);
        Assert.DoesNotContain("hunter2", logger.All);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("hunter2")), logger.All);
    }

    [Theory]
    [InlineData("PLAIN LOGIN")]
    [InlineData("LOGIN")]
    public async Task Auth_with_a_wrong_password_fails_at_auth(string mechanisms)
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions
        {
            OfferStartTls = true,
            AuthUsers = new() { ["alice"] = "right" },
            AuthMechanisms = mechanisms,
        });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() =>
            OpenAsync(server, Settings(OutboundTlsPolicy.May, "alice", "wrong"), null, cts.Token));
        Assert.Equal(SessionStage.Auth, e.Stage);
        Assert.Equal(535, e.Reply!.Code);
        Assert.DoesNotContain("wrong", e.Message);
        Assert.Equal("QUIT", server.Commands[^1]);
    }

    [Fact]
    public async Task Credentials_without_auth_offered_fail_at_auth()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { OfferStartTls = true });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() =>
            OpenAsync(server, Settings(OutboundTlsPolicy.May, "alice", "pw"), null, cts.Token));
        Assert.Equal(SessionStage.Auth, e.Stage);
        Assert.Contains("does not offer AUTH", e.Message);
        Assert.Null(e.Reply);
    }

    [Fact]
    public async Task Unsupported_mechanisms_only_fail_at_auth()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { Extensions = ["AUTH CRAM-MD5 GSSAPI"] });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() =>
            OpenAsync(server, Settings(OutboundTlsPolicy.None, "alice", "pw"), null, cts.Token));
        Assert.Equal(SessionStage.Auth, e.Stage);
        Assert.Contains("CRAM-MD5 GSSAPI", e.Message);
    }

    public static TheoryData<DropPoint, bool, SessionStage, bool> Drops => new()
    {
        { DropPoint.AfterGreeting, true, SessionStage.Ehlo, false },
        { DropPoint.AfterEhlo, true, SessionStage.Ehlo, false },
        { DropPoint.AfterMail, true, SessionStage.Mail, true },
        { DropPoint.AfterMail, false, SessionStage.Mail, true },
        { DropPoint.AfterRcpt, true, SessionStage.Rcpt, true },
        { DropPoint.AfterRcpt, false, SessionStage.Rcpt, true },
        { DropPoint.AfterDataCommand, true, SessionStage.Data, true },
        { DropPoint.AfterDataCommand, false, SessionStage.Data, true },
        { DropPoint.BeforeFinalReply, true, SessionStage.Data, true },
        { DropPoint.BeforeFinalReply, false, SessionStage.Data, true },
    };

    [Theory]
    [MemberData(nameof(Drops))]
    public async Task A_dropped_connection_fails_the_session(DropPoint drop, bool pipelining, SessionStage stage, bool transactionStarted)
    {
        using var cts = Bound();
        var options = new TestSmtpServerOptions { DropAt = drop };
        if (!pipelining) options.Extensions.Remove("PIPELINING");
        await using var server = await TestSmtpServer.StartAsync(options);
        var message = Message();
        var e = await Assert.ThrowsAsync<SmtpSessionException>(async () =>
        {
            await using var client = await OpenAsync(server, null, null, cts.Token);
            try
            {
                await client.SendAsync(Envelope(message, "a@example.net", "b@example.net"), message, cts.Token);
            }
            finally
            {
                Assert.False(client.IsUsable);
            }
        });
        Assert.Equal(stage, e.Stage);
        Assert.Equal(transactionStarted, e.TransactionStarted);
        Assert.Null(e.Reply);
        Assert.StartsWith("lost connection with test.local[127.0.0.1] while ", e.Message);
        Assert.Empty(server.Received);
    }

    [Fact]
    public async Task Drop_on_connect_fails_at_the_greeting()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { DropOnConnect = true });
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, null, null, cts.Token));
        Assert.Equal(SessionStage.Greeting, e.Stage);
        Assert.False(e.TransactionStarted);
    }

    [Fact]
    public async Task Refused_connection_fails_at_connect()
    {
        using var cts = Bound();
        // A port that was just free: bind, note it, close.
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        probe.Dispose();
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() =>
            SmtpClientConnection.OpenAsync(new SmtpTarget("nobody.test", IPAddress.Loopback, port), Settings(),
                Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, cts.Token));
        Assert.Equal(SessionStage.Connect, e.Stage);
        Assert.StartsWith($"connect to nobody.test[127.0.0.1]:{port}: ", e.Message);
    }

    [Fact]
    public async Task Slow_greeting_beyond_the_timeout_fails_at_the_greeting()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromSeconds(3) });
        var timeouts = Timeouts();
        timeouts.Greeting = TimeSpan.FromMilliseconds(300);
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => OpenAsync(server, Settings(timeouts: timeouts), null, cts.Token));
        Assert.Equal(SessionStage.Greeting, e.Stage);
        Assert.Contains("timed out", e.Message);
    }

    [Fact]
    public async Task Slow_mail_reply_beyond_the_timeout_fails_the_transaction_and_the_connection()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromMilliseconds(600) });
        var timeouts = Timeouts();
        timeouts.Mail = TimeSpan.FromMilliseconds(200);
        var message = Message();
        await using var client = await OpenAsync(server, Settings(timeouts: timeouts), null, cts.Token);
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token));
        Assert.Equal(SessionStage.Mail, e.Stage);
        Assert.True(e.TransactionStarted);
        Assert.Contains("timed out", e.Message);
        Assert.False(client.IsUsable);
        Assert.False(await client.ResetAsync(cts.Token));
    }

    [Fact]
    public async Task Caller_cancellation_is_not_a_timeout()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync(new TestSmtpServerOptions { ReplyDelay = TimeSpan.FromSeconds(5) });
        using var quick = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        quick.CancelAfter(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => OpenAsync(server, null, null, quick.Token));
    }

    [Fact]
    public async Task A_server_that_closed_an_idle_connection_is_noticed_before_mail()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var message = Message();
        await using var client = await OpenAsync(server, null, null, cts.Token);
        await client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token);
        // Stopping the server closes every connection, as an idle timeout would.
        await server.DisposeAsync();
        await Task.Delay(200, cts.Token);
        var e = await Assert.ThrowsAsync<SmtpSessionException>(() => client.SendAsync(Envelope(message, "b@example.net"), message, cts.Token));
        Assert.Equal(SessionStage.Mail, e.Stage);
        Assert.False(e.TransactionStarted);
        Assert.False(client.IsUsable);
    }

    [Fact]
    public async Task Dispose_says_quit_and_never_throws_twice()
    {
        using var cts = Bound();
        await using var server = await TestSmtpServer.StartAsync();
        var client = await OpenAsync(server, null, null, cts.Token);
        await client.DisposeAsync();
        await client.DisposeAsync();
        Assert.Equal(["EHLO client.test", "QUIT"], server.Commands);
        Assert.False(client.IsUsable);
        var message = Message();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.SendAsync(Envelope(message, "a@example.net"), message, cts.Token));
    }
}
