// AUTH PLAIN and LOGIN over real sockets: offered only inside TLS (or on a loopback listener that allows it), relaying after AUTH.
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Auth;
using Mta.Engine.Configuration;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class AuthTests
{
    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static async Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null, Action<IHookRegistrar>? hooks = null)
    {
        var server = await MtaTestServer.StartAsync(o =>
        {
            o.Auth.HashIterations = 100_000; // the minimum: keeps the tests quick, the code path is the same
            configure?.Invoke(o);
        }, hooks);
        server.Services.GetRequiredService<UserStore>().Add("alice", "correct horse", []);
        return server;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MailKit_authenticates_after_STARTTLS_and_may_relay(bool receivedShowsUser)
    {
        await using var server = await StartAsync(o =>
        {
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            o.Auth.ReceivedHeaderShowsUser = receivedShowsUser;
        });
        using var client = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Authentication));
        await client.AuthenticateAsync("alice", "correct horse");

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse("bob@example.test"));
        message.To.Add(MailboxAddress.Parse("someone@elsewhere.test"));
        message.Subject = "after auth";
        message.Body = new TextPart("plain") { Text = "hello" };
        await client.SendAsync(message); // a non-local recipient: refused without AUTH (RelayTests)
        await client.DisconnectAsync(true);

        var delivered = await File.ReadAllTextAsync((await server.WaitForMailAsync("bob"))[0]);
        Assert.Contains("with ESMTPSA id", delivered);
        // Named only when the operator asks (Auth:ReceivedHeaderShowsUser), as Postfix's smtpd_sasl_authenticated_header.
        if (receivedShowsUser) Assert.Contains("(authenticated as alice)", delivered);
        else Assert.DoesNotContain("alice)", delivered);
    }

    [Fact]
    public async Task AUTH_is_not_offered_in_clear_text_and_refused_with_538()
    {
        await using var server = await StartAsync(o => o.Listeners[0].Tls = ListenerTlsMode.StartTls);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        var ehlo = await smtp.CommandAsync("EHLO client.test");
        Assert.DoesNotContain(ehlo.Lines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
        var refused = await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"));
        Assert.Equal(538, refused.Code);
        Assert.StartsWith("5.7.11", refused.Lines[0]);
    }

    [Fact]
    public async Task PLAIN_and_LOGIN_in_both_forms_on_a_loopback_listener_that_allows_clear_text()
    {
        await using var server = await StartAsync(o => o.Listeners[0].AllowPlaintextAuth = true);
        await using (var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint))
        {
            Assert.Contains((await smtp.CommandAsync("EHLO client.test")).Lines, l => l == "AUTH PLAIN LOGIN");
            Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"))).Code);
            Assert.Equal(503, (await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"))).Code);
        }
        await using (var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint))
        {
            await smtp.CommandAsync("EHLO client.test");
            var challenge = await smtp.CommandAsync("AUTH PLAIN");
            Assert.Equal(334, challenge.Code);
            Assert.Equal(235, (await smtp.CommandAsync(Plain("alice", "correct horse"))).Code);
        }
        await using (var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint))
        {
            await smtp.CommandAsync("EHLO client.test");
            var user = await smtp.CommandAsync("AUTH LOGIN");
            Assert.Equal(334, user.Code);
            Assert.Equal("VXNlcm5hbWU6", user.Lines[0]);
            var pass = await smtp.CommandAsync(B64("alice"));
            Assert.Equal(334, pass.Code);
            Assert.Equal(235, (await smtp.CommandAsync(B64("correct horse"))).Code);
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@example.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<x@elsewhere.test>")).Code);
        }
    }

    [Fact]
    public async Task Wrong_password_is_535_a_cancel_is_501_and_the_session_goes_on()
    {
        await using var server = await StartAsync(o => o.Listeners[0].AllowPlaintextAuth = true);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        var wrong = await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "wrong"));
        Assert.Equal(535, wrong.Code);
        Assert.StartsWith("5.7.8", wrong.Lines[0]);
        Assert.Equal(334, (await smtp.CommandAsync("AUTH LOGIN")).Code);
        var cancelled = await smtp.CommandAsync("*");
        Assert.Equal(501, cancelled.Code);
        Assert.Equal(504, (await smtp.CommandAsync("AUTH CRAM-MD5")).Code);
        // Still unauthenticated: mail to other domains is refused.
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<a@client.test>")).Code);
        Assert.Equal(554, (await smtp.CommandAsync("RCPT TO:<x@elsewhere.test>")).Code);
    }

    [Fact]
    public async Task An_auth_hook_can_authenticate_against_another_store()
    {
        await using var server = await StartAsync(o => o.Listeners[0].AllowPlaintextAuth = true,
            hooks: r => r.Register<AuthContext>("directory", (ctx, ct) => ValueTask.FromResult(
                ctx.UserName == "ldap-user" && ctx.Password == "from-directory" ? HookResult.Accept() : HookResult.Continue)));
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + Plain("ldap-user", "from-directory"))).Code);
    }

    [Fact]
    public async Task Repeated_failures_from_one_address_close_the_connection_with_421()
    {
        await using var server = await StartAsync(o =>
        {
            o.Listeners[0].AllowPlaintextAuth = true;
            o.Auth.MaxFailuresPerIp = 2;
            o.Auth.MaxDelay = TimeSpan.Zero;
        });
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(535, (await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "one"))).Code);
        Assert.Equal(535, (await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "two"))).Code);
        var closing = await smtp.ReadReplyAsync();
        Assert.Equal(421, closing.Code);
        Assert.True(await smtp.IsClosedByServerAsync());
    }

    [Fact]
    public async Task A_submission_listener_requires_AUTH_and_the_users_own_sender_address()
    {
        await using var server = await StartAsync(o =>
        {
            o.Listeners[0].Role = ListenerRole.Submission;
            o.Listeners[0].AllowPlaintextAuth = true;
        });
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        var required = await smtp.CommandAsync("MAIL FROM:<alice@example.test>");
        Assert.Equal(530, required.Code);
        Assert.StartsWith("5.7.0", required.Lines[0]);

        Assert.Equal(235, (await smtp.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"))).Code);
        var notHers = await smtp.CommandAsync("MAIL FROM:<bob@example.test>");
        Assert.Equal(553, notHers.Code);
        Assert.StartsWith("5.7.1", notHers.Lines[0]);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<alice@example.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<friend@elsewhere.test>")).Code);
    }

    [Fact]
    public async Task An_AUTH_line_of_10000_octets_is_accepted_and_one_of_13000_refused_with_the_session_going_on()
    {
        await using var server = await StartAsync(o => o.Listeners[0].AllowPlaintextAuth = true);
        // A long password (a generated secret, or a token): the initial response makes a line of about 10000 octets.
        var longPassword = new string('p', 7_400);
        server.Services.GetRequiredService<UserStore>().Add("carol", longPassword, []);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");

        var tooLong = "AUTH PLAIN " + Plain("carol", new string('q', 9_700));
        Assert.InRange(tooLong.Length + 2, 12_900, 13_100);
        var refused = await smtp.CommandAsync(tooLong);
        Assert.Equal(500, refused.Code);
        Assert.Equal("5.5.6 Line too long (at most 12288 octets including CRLF)", refused.Lines[0]);
        Assert.Equal(250, (await smtp.CommandAsync("NOOP")).Code);
        // Other commands keep the 512-octet limit of RFC 5321.
        Assert.Equal(500, (await smtp.CommandAsync("NOOP " + new string('x', 600))).Code);

        var line = "AUTH PLAIN " + Plain("carol", longPassword);
        Assert.InRange(line.Length + 2, 9_800, 10_100);
        Assert.Equal(235, (await smtp.CommandAsync(line)).Code);
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<carol@example.test>")).Code);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<x@elsewhere.test>")).Code);
    }

    [Fact]
    public async Task A_long_SASL_response_line_is_accepted_up_to_12288_octets()
    {
        await using var server = await StartAsync(o => o.Listeners[0].AllowPlaintextAuth = true);
        var longPassword = new string('p', 7_400);
        server.Services.GetRequiredService<UserStore>().Add("carol", longPassword, []);
        await using var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await smtp.CommandAsync("EHLO client.test");
        Assert.Equal(334, (await smtp.CommandAsync("AUTH PLAIN")).Code);
        Assert.Equal(235, (await smtp.CommandAsync(Plain("carol", longPassword))).Code);
    }

    [Fact]
    public async Task An_exchange_in_progress_holds_a_failure_slot_and_a_cancel_or_a_success_gives_it_back()
    {
        await using var server = await StartAsync(o =>
        {
            o.Listeners[0].AllowPlaintextAuth = true;
            o.Auth.MaxFailuresPerIp = 1;
            o.Auth.MaxDelay = TimeSpan.Zero;
        });
        await using var first = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await using var second = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await first.CommandAsync("EHLO one.test");
        await second.CommandAsync("EHLO two.test");

        // The first exchange waits for its user name: it holds the address's only slot.
        Assert.Equal(334, (await first.CommandAsync("AUTH LOGIN")).Code);
        var refused = await second.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"));
        Assert.Equal(454, refused.Code);
        Assert.StartsWith("4.7.0", refused.Lines[0]);

        // Cancelled: not a failure, and the slot is free again.
        Assert.Equal(501, (await first.CommandAsync("*")).Code);
        Assert.Equal(235, (await second.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"))).Code);
        Assert.Equal(235, (await first.CommandAsync("AUTH PLAIN " + Plain("alice", "correct horse"))).Code);
    }
}
