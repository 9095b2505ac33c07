// TLS 1.2 cipher suites (AEAD only unless widened) and the RSA certificate beside the ECDSA one, probed with
// Debian's `openssl s_client` over STARTTLS, as a scanner or an old MTA would connect.
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;

namespace Mta.EndToEnd.Tests;

public sealed class TlsSuitesTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("mta-e2e-suites-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static Task<MtaTestServer> StartAsync(Action<MtaOptions>? configure = null) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Listeners[0].Tls = ListenerTlsMode.StartTls;
            configure?.Invoke(o);
        });

    /// <summary>An RSA certificate and key as PEM files, CN=mta.test with O=rsa to tell it from the self-signed ECDSA one.</summary>
    private (string Cert, string Key) WriteRsaPem()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=mta.test, O=rsa", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certPath = Path.Combine(_dir.FullName, "rsa.pem");
        var keyPath = Path.Combine(_dir.FullName, "rsa.key");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    /// <summary>One STARTTLS handshake by <c>openssl s_client</c> (installed by .ci/run); stdin closed, so it quits after.</summary>
    private static async Task<(bool Connected, string Output)> SClientAsync(MtaTestServer server, params string[] args)
    {
        var start = new ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in (string[])["s_client", "-connect", $"127.0.0.1:{server.Port}", "-starttls", "smtp", "-name", "client.test", "-servername", "mta.test", .. args])
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(bound.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        var output = await stdout + await stderr;
        // A finished handshake prints the negotiated suite; a refused one "Cipher is (NONE)" or an alert.
        return (output.Contains("Cipher is ", StringComparison.Ordinal) && !output.Contains("Cipher is (NONE)", StringComparison.Ordinal), output);
    }

    private static string CipherOf(string output) =>
        output.Split('\n').First(l => l.Contains("Cipher is ", StringComparison.Ordinal)).Split("Cipher is ")[1].Trim();

    private static string SubjectOf(string output) =>
        output.Split('\n').First(l => l.StartsWith("subject=", StringComparison.Ordinal)).Trim();

    [Fact]
    public async Task TLS_1_2_offers_AEAD_suites_only_by_default()
    {
        await using var server = await StartAsync();
        var gcm = await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256");
        Assert.True(gcm.Connected, gcm.Output);
        Assert.Equal("ECDHE-ECDSA-AES128-GCM-SHA256", CipherOf(gcm.Output));
        var chacha = await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305");
        Assert.True(chacha.Connected, chacha.Output);
        foreach (var cbc in new[] { "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256" })
        {
            var refused = await SClientAsync(server, "-tls1_2", "-cipher", cbc);
            Assert.False(refused.Connected, $"{cbc} was accepted:\n{refused.Output}");
        }
        // TLS 1.3 keeps its suites.
        var tls13 = await SClientAsync(server, "-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256");
        Assert.True(tls13.Connected, tls13.Output);
        Assert.Equal("TLS_CHACHA20_POLY1305_SHA256", CipherOf(tls13.Output));
        // The server goes on: an ordinary client still gets through after the refusals.
        Assert.True((await SClientAsync(server)).Connected);
    }

    [Fact]
    public async Task AllowCbcSuites_widens_TLS_1_2_for_old_clients()
    {
        var (cert, key) = WriteRsaPem();
        await using var server = await StartAsync(o =>
        {
            o.Tls.AllowCbcSuites = true;
            o.Tls.RsaCertificateFile = cert;
            o.Tls.RsaKeyFile = key;
        });
        var ecdsa = await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA");
        Assert.True(ecdsa.Connected, ecdsa.Output);
        var rsa = await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256");
        Assert.True(rsa.Connected, rsa.Output);
        Assert.Contains("O = rsa", SubjectOf(rsa.Output));
        // Still no RSA key exchange (no forward secrecy).
        Assert.False((await SClientAsync(server, "-tls1_2", "-cipher", "AES128-GCM-SHA256")).Connected);
    }

    [Fact]
    public async Task CipherSuites_replaces_the_TLS_1_2_list()
    {
        await using var server = await StartAsync(o => o.Tls.CipherSuites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]);
        Assert.True((await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")).Connected);
        Assert.False((await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")).Connected);
    }

    [Fact]
    public async Task A_client_that_cannot_verify_ECDSA_gets_the_RSA_certificate_others_the_ECDSA_one()
    {
        var (cert, key) = WriteRsaPem();
        await using var server = await StartAsync(o =>
        {
            o.Tls.RsaCertificateFile = cert;
            o.Tls.RsaKeyFile = key;
        });
        Assert.NotNull(server.Services.GetRequiredService<Engine.Tls.CertificateProvider>().RsaCertificate);

        var rsaSuite = await SClientAsync(server, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256");
        Assert.True(rsaSuite.Connected, rsaSuite.Output);
        Assert.Contains("O = rsa", SubjectOf(rsaSuite.Output));
        Assert.Equal("ECDHE-RSA-AES128-GCM-SHA256", CipherOf(rsaSuite.Output));

        var rsaSigalgs = await SClientAsync(server, "-tls1_2", "-sigalgs", "RSA+SHA256");
        Assert.True(rsaSigalgs.Connected, rsaSigalgs.Output);
        Assert.Contains("O = rsa", SubjectOf(rsaSigalgs.Output));

        var rsaTls13 = await SClientAsync(server, "-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256");
        Assert.True(rsaTls13.Connected, rsaTls13.Output);
        Assert.Contains("O = rsa", SubjectOf(rsaTls13.Output));

        foreach (var args in new[] { Array.Empty<string>(), ["-tls1_2"], ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], ["-tls1_3"] })
        {
            var ecdsa = await SClientAsync(server, args);
            Assert.True(ecdsa.Connected, ecdsa.Output);
            Assert.Equal("subject=CN = mta.test", SubjectOf(ecdsa.Output));
        }
    }

    [Fact]
    public void Bad_TLS_settings_fail_validation_with_the_key_path()
    {
        var o = new MtaOptions { Listeners = [new ListenerOptions()] };
        o.Tls.RsaCertificateFile = "/nonexistent/rsa.pem";
        o.Tls.CipherSuites = ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-SHA", "TLS_AES_128_GCM_SHA256"];
        o.Tls.AllowCbcSuites = true;
        var errors = MtaOptionsValidator.Validate(o);
        Assert.Contains(errors, e => e.StartsWith("Tls:RsaCertificateFile:"));
        Assert.DoesNotContain(errors, e => e.StartsWith("Tls:CipherSuites:0:"));
        Assert.Contains(errors, e => e.StartsWith("Tls:CipherSuites:1:"));
        Assert.Contains(errors, e => e.StartsWith("Tls:CipherSuites:2:"));
        Assert.Contains(errors, e => e.StartsWith("Tls:AllowCbcSuites:"));
    }

    [Fact]
    public async Task An_RSA_file_beside_an_RSA_main_certificate_stops_start_up()
    {
        var (cert, key) = WriteRsaPem();
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync(o =>
        {
            o.Tls.CertificateFile = cert;
            o.Tls.KeyFile = key;
            o.Tls.RsaCertificateFile = cert;
            o.Tls.RsaKeyFile = key;
        }));
        Assert.Contains("ECDSA", ex.Message);
    }
}
