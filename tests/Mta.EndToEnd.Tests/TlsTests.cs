// STARTTLS and implicit TLS over real sockets: delivery, state reset, the CVE-2011-0411 injection, protocol floor, certificates.
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Tls;

namespace Mta.EndToEnd.Tests;

public sealed class TlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<MtaTestServer> StartAsync(ListenerTlsMode mode = ListenerTlsMode.StartTls, Action<MtaOptions>? configure = null,
        Action<IHookRegistrar>? hooks = null, string? dataDirectory = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].Tls = mode;
            configure?.Invoke(o);
        }, hooks, dataDirectory);

    /// <summary>Accepts exactly the server's certificate, nothing else.</summary>
    private static bool IsServerCertificate(MtaTestServer server, X509Certificate? presented) =>
        presented is not null && presented.GetCertHashString() == server.Certificate!.Thumbprint;

    private static SmtpClient NewMailKit(MtaTestServer server)
    {
        var client = new SmtpClient { Timeout = 15_000, LocalDomain = "mailkit.test" };
        client.ServerCertificateValidationCallback = (_, cert, _, _) => IsServerCertificate(server, cert);
        client.CheckCertificateRevocation = false;
        return client;
    }

    private static MimeMessage NewMessage(string subject, string to)
    {
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("sender@remote.test"));
        m.To.Add(MailboxAddress.Parse(to));
        m.Subject = subject;
        m.Body = new TextPart("plain") { Text = "over TLS\r\n" };
        return m;
    }

    private static void AssertTlsReceived(string file)
    {
        var got = MimeMessage.Load(file);
        var received = got.Headers.First(h => h.Id == HeaderId.Received).Value;
        Assert.Contains("with ESMTPS", received);
        Assert.Matches(@"using TLSv1\.[23] with cipher TLS_[A-Z0-9_]+", received);
    }

    [Fact]
    public async Task STARTTLS_with_MailKit_delivers_and_the_Received_field_names_protocol_and_cipher()
    {
        await using var server = await StartAsync();
        using (var client = NewMailKit(server))
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls, Ct);
            // (MailKit keeps its StartTLS capability flag after the upgrade; the raw test checks the EHLO after TLS.)
            Assert.True(client.IsSecure);
            await client.SendAsync(NewMessage("tls", "alice@example.test"), Ct);
            await client.DisconnectAsync(true, Ct);
        }
        AssertTlsReceived(Assert.Single(await server.WaitForMailAsync("alice")));
    }

    [Fact]
    public async Task Implicit_TLS_listener_with_MailKit_delivers_and_never_offers_STARTTLS()
    {
        await using var server = await StartAsync(ListenerTlsMode.Implicit);
        using (var client = NewMailKit(server))
        {
            await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect, Ct);
            Assert.True(client.IsSecure);
            Assert.False(client.Capabilities.HasFlag(SmtpCapabilities.StartTLS));
            await client.SendAsync(NewMessage("implicit", "bob@example.test"), Ct);
            await client.DisconnectAsync(true, Ct);
        }
        AssertTlsReceived(Assert.Single(await server.WaitForMailAsync("bob")));
    }

    [Fact]
    public async Task Implicit_TLS_handshake_comes_before_the_greeting()
    {
        await using var server = await StartAsync(ListenerTlsMode.Implicit);
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        await c.HandshakeAsync(server);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("STARTTLS", ehlo.Lines);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 503, "5.5.1");
    }

    [Fact]
    public async Task After_the_handshake_the_session_is_reset_and_STARTTLS_is_no_longer_offered()
    {
        await using var server = await StartAsync();
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var before = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.Contains("STARTTLS", before.Lines);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS now"), 501);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 220, "2.0.0", "Ready to start TLS");
        await c.HandshakeAsync(server);
        // RFC 3207 4.2: the HELO name and the open transaction are forgotten.
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 503, "5.5.1");
        var after = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("STARTTLS", after.Lines);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 503, "5.5.1");
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: raw\r\n\r\nbody\r\n."), 250, "2.0.0");
        SmtpAssert.Reply(await c.CommandAsync("QUIT"), 221);
        AssertTlsReceived(Assert.Single(await server.WaitForMailAsync("carol")));
    }

    [Fact]
    public async Task STARTTLS_on_a_clear_text_listener_is_refused()
    {
        await using var server = await StartAsync(ListenerTlsMode.None);
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.DoesNotContain("STARTTLS", ehlo.Lines);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 502, "5.5.1");
        Assert.Null(server.Certificate);
    }

    [Theory]
    [InlineData("MAIL FROM:<evil@x.test>\r\n")]
    [InlineData("RSET\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\n")]
    public async Task Commands_pipelined_behind_STARTTLS_are_discarded_never_executed(string injected)
    {
        var mails = 0;
        var rsets = 0;
        await using var server = await StartAsync(hooks: r =>
        {
            r.Register<MailContext>("count", (_, _) => { Interlocked.Increment(ref mails); return ValueTask.FromResult(HookResult.Continue); });
            r.Register<RsetContext>("count", (_, _) => { Interlocked.Increment(ref rsets); return ValueTask.FromResult(HookResult.Continue); });
        });
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        // One write: the injected commands reach the server in the same segment as STARTTLS (CVE-2011-0411).
        await c.SendAsync("STARTTLS\r\n" + injected);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220, "2.0.0");
        Assert.Equal(0, c.BufferedBytes);
        await c.HandshakeAsync(server);
        // The first reply inside TLS answers our EHLO: nothing injected produced a reply.
        var ehlo = SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        Assert.StartsWith("mta.test Hello client.test", ehlo.Lines[0]);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<good@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
        Assert.Equal(1, mails);
        Assert.Equal(0, rsets);
    }

    [Theory]
    [InlineData("LF.LF", "\n.\n")]
    [InlineData("CR.CR", "\r.\r")]
    [InlineData("CRLF.LF", "\r\n.\n")]
    public async Task Smuggling_over_TLS_is_refused_once_and_nothing_is_delivered(string name, string fake)
    {
        await using var server = await StartAsync();
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 220);
        await c.HandshakeAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("EHLO client.test"), 250);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<bob@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        await c.SendAsync(
            "Subject: outer " + name + "\r\n\r\ntext" + fake +
            "MAIL FROM:<evil@x.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n");
        SmtpAssert.Reply(await c.ReadReplyAsync(), 554, "5.6.0");
        // The next reply answers our HELP: nothing smuggled ran.
        SmtpAssert.Reply(await c.CommandAsync("HELP"), 214);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<alice@example.test>"), 503, "5.5.1");
        // A clean message afterwards is the only one ever delivered (the queue works in order of acceptance).
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<carol@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("DATA"), 354);
        SmtpAssert.Reply(await c.CommandAsync("Subject: clean\r\n\r\nclean\r\n."), 250);
        Assert.Single(await server.WaitForMailAsync("carol"));
        Assert.Equal(1, SmtpAssert.CountAllDelivered(server));
        Assert.False(Directory.Exists(server.MaildirNew("alice")));
        Assert.False(Directory.Exists(server.MaildirNew("bob")));
    }

    [Fact]
    public async Task A_failed_handshake_closes_the_connection_and_the_server_goes_on()
    {
        await using var server = await StartAsync();
        await using (var c = await TlsClient.ConnectAsync(server.EndPoint))
        {
            SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
            SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 220);
            // Not a TLS ClientHello: the server can only drop the connection.
            await c.SendAsync("EHLO not-tls\r\n");
            Assert.True(await c.IsClosedByServerAsync());
        }
        await using var again = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await again.ReadReplyAsync(), 220);
    }

    [Fact]
    public async Task MinimumProtocol_Tls13_refuses_a_TLS_1_2_client()
    {
        await using var server = await StartAsync(configure: o => o.Tls.MinimumProtocol = TlsMinimumProtocol.Tls13);
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 220);
        await Assert.ThrowsAnyAsync<Exception>(() => c.HandshakeAsync(server, SslProtocols.Tls12));
    }

    [Fact]
    public async Task TLS_1_0_and_1_1_are_refused()
    {
#pragma warning disable SYSLIB0039 // the obsolete protocols are the point of the test
        const SslProtocols legacy = SslProtocols.Tls | SslProtocols.Tls11;
#pragma warning restore SYSLIB0039
        // Only meaningful where this machine can speak TLS 1.0/1.1 at all: probe against a local server that allows them.
        if (!await LegacyTlsWorksLocallyAsync(legacy))
            Assert.Skip("this machine's TLS library refuses TLS 1.0/1.1 on both sides, so the server's own floor cannot be observed");
        await using var server = await StartAsync();
        await using var c = await TlsClient.ConnectAsync(server.EndPoint);
        SmtpAssert.Reply(await c.ReadReplyAsync(), 220);
        SmtpAssert.Reply(await c.CommandAsync("STARTTLS"), 220);
        await Assert.ThrowsAnyAsync<Exception>(() => c.HandshakeAsync(server, legacy));
    }

    private static async Task<bool> LegacyTlsWorksLocallyAsync(SslProtocols legacy)
    {
        using var cert = X509CertificateLoader.LoadPkcs12(CertificateProvider.CreateSelfSigned("probe.test", DateTimeOffset.UtcNow), null);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var serverSide = Task.Run(async () =>
            {
                using var s = await listener.AcceptTcpClientAsync(cts.Token);
                await using var ssl = new SslStream(s.GetStream());
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = cert, EnabledSslProtocols = legacy }, cts.Token);
            });
            using var tcp = new TcpClient();
            await tcp.ConnectAsync((IPEndPoint)listener.LocalEndpoint, cts.Token);
            await using var client = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await client.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "probe.test", EnabledSslProtocols = legacy }, cts.Token);
            await serverSide;
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    [Fact]
    public async Task Self_signed_certificate_is_created_under_the_data_folder_and_reused_on_restart()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-e2e-tls-" + Guid.NewGuid().ToString("n")[..12]);
        var keep = Path.Combine(Path.GetTempPath(), "mta-e2e-tls-keep-" + Guid.NewGuid().ToString("n")[..12] + ".pfx");
        try
        {
            string first;
            await using (var server = await StartAsync(dataDirectory: root))
            {
                var file = Path.Combine(root, "tls", "selfsigned.pfx");
                Assert.True(File.Exists(file));
                if (!OperatingSystem.IsWindows())
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
                using var onDisk = X509CertificateLoader.LoadPkcs12FromFile(file, null);
                first = server.Certificate!.Thumbprint;
                Assert.Equal(onDisk.Thumbprint, first);
                Assert.Equal("CN=mta.test", onDisk.Subject);
                Assert.Equal("mta.test", onDisk.GetNameInfo(X509NameType.DnsName, false));
                Assert.InRange(onDisk.NotAfter.ToUniversalTime() - DateTime.UtcNow, TimeSpan.FromDays(720), TimeSpan.FromDays(731));
                // The test server removes its data folder when it stops; keep the certificate across the restart.
                File.Copy(file, keep);
            }
            Directory.CreateDirectory(Path.Combine(root, "tls"));
            File.Copy(keep, Path.Combine(root, "tls", "selfsigned.pfx"));
            await using (var again = await StartAsync(dataDirectory: root))
                Assert.Equal(first, again.Certificate!.Thumbprint);

            // An unreadable file is replaced, not fatal.
            Directory.CreateDirectory(Path.Combine(root, "tls"));
            await File.WriteAllTextAsync(Path.Combine(root, "tls", "selfsigned.pfx"), "garbage", Ct);
            await using (var replaced = await StartAsync(dataDirectory: root))
                Assert.NotEqual(first, replaced.Certificate!.Thumbprint);
        }
        finally
        {
            File.Delete(keep);
            try { Directory.Delete(root, recursive: true); } catch (DirectoryNotFoundException) { }
        }
    }

    [Fact]
    public async Task An_expired_self_signed_certificate_is_regenerated()
    {
        var root = Path.Combine(Path.GetTempPath(), "mta-e2e-tls-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(Path.Combine(root, "tls"));
        var expired = CertificateProvider.CreateSelfSigned("mta.test", DateTimeOffset.UtcNow.AddYears(-3));
        await File.WriteAllBytesAsync(Path.Combine(root, "tls", "selfsigned.pfx"), expired, Ct);
        using var old = X509CertificateLoader.LoadPkcs12(expired, null);
        await using var server = await StartAsync(dataDirectory: root);
        Assert.NotEqual(old.Thumbprint, server.Certificate!.Thumbprint);
        Assert.True(server.Certificate.NotAfter > DateTime.Now.AddYears(1));
    }

    [Fact]
    public async Task Configured_PEM_pair_and_PFX_with_password_are_used()
    {
        var dir = Directory.CreateTempSubdirectory("mta-e2e-tlscfg-");
        try
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=configured.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
            var certPem = Path.Combine(dir.FullName, "cert.pem");
            var keyPem = Path.Combine(dir.FullName, "key.pem");
            var pfx = Path.Combine(dir.FullName, "cert.pfx");
            await File.WriteAllTextAsync(certPem, cert.ExportCertificatePem(), Ct);
            await File.WriteAllTextAsync(keyPem, key.ExportPkcs8PrivateKeyPem(), Ct);
            await File.WriteAllBytesAsync(pfx, cert.Export(X509ContentType.Pkcs12, "s3cret"), Ct);

            foreach (Action<TlsOptions> set in new Action<TlsOptions>[]
                     {
                         t => { t.CertificateFile = certPem; t.KeyFile = keyPem; },
                         t => { t.CertificateFile = pfx; t.Password = "s3cret"; },
                     })
            {
                await using var server = await StartAsync(configure: o => set(o.Tls));
                Assert.Equal(cert.Thumbprint, server.Certificate!.Thumbprint);
                Assert.False(Directory.Exists(Path.Combine(server.Root, "tls")));
                using var client = NewMailKit(server);
                await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls, Ct);
                Assert.True(client.IsSecure);
                await client.DisconnectAsync(true, Ct);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Missing_certificate_files_fail_validation_with_the_key_path()
    {
        var o = new MtaOptions { Listeners = [new ListenerOptions()] };
        o.Tls.CertificateFile = "/nonexistent/cert.pem";
        o.Tls.KeyFile = "/nonexistent/key.pem";
        var errors = MtaOptionsValidator.Validate(o);
        Assert.Contains(errors, e => e.StartsWith("Tls:CertificateFile:"));
        Assert.Contains(errors, e => e.StartsWith("Tls:KeyFile:"));
        Assert.Equal(ListenerTlsMode.StartTls, new ListenerOptions().Tls);
        Assert.Equal(TlsMinimumProtocol.Tls12, new TlsOptions().MinimumProtocol);
    }

    /// <summary>A byte-exact SMTP client that can switch to TLS mid-session, for what MailKit will not do.</summary>
    private sealed class TlsClient : IAsyncDisposable
    {
        private readonly RawSmtpClient _client;

        private TlsClient(RawSmtpClient client) => _client = client;

        public static async Task<TlsClient> ConnectAsync(IPEndPoint endPoint) =>
            new(await RawSmtpClient.ConnectAsync(endPoint, readGreeting: false));

        /// <summary>Bytes received but not yet read as replies; after 220 to STARTTLS there must be none.</summary>
        public int BufferedBytes => _client.BufferedBytes;

        public async Task HandshakeAsync(MtaTestServer server, SslProtocols protocols = SslProtocols.None)
        {
            Assert.Equal(0, BufferedBytes);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            await _client.StartTlsAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "mta.test",
                EnabledSslProtocols = protocols,
                RemoteCertificateValidationCallback = (_, cert, _, _) => IsServerCertificate(server, cert),
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, cts.Token);
        }

        public Task SendAsync(string text) => _client.SendAsync(text);

        public Task<RawReply> CommandAsync(string line) => _client.CommandAsync(line);

        public Task<RawReply> ReadReplyAsync() => _client.ReadReplyAsync();

        public Task<bool> IsClosedByServerAsync() => _client.IsClosedByServerAsync();

        public ValueTask DisposeAsync() => _client.DisposeAsync();
    }
}
