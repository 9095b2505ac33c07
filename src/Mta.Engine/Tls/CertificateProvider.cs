// Loads the server certificates at start and again on reload (PEM, PKCS#12, or a self-signed one kept under the data folder;
// an optional RSA one beside it), and builds each handshake's options: AEAD-only suites for TLS 1.2, the certificate the client can verify.
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tls;

public sealed partial class CertificateProvider : IDisposable, IReloadable
{
    private static readonly TimeSpan SelfSignedLifetime = TimeSpan.FromDays(730);
    // Renewed a little before it runs out, so a long-running server never offers an expired one after a restart.
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    private readonly MtaOptions _options;
    private readonly MtaPaths _paths;
    private readonly TimeProvider _time;
    private readonly ILogger<CertificateProvider> _logger;
    private readonly Lock _lock = new();
    // Swapped whole on reload: a handshake reads one set, so it never mixes an old certificate with new settings.
    private volatile CertificateSet? _set;

    public CertificateProvider(MtaOptions options, MtaPaths paths, TimeProvider time, ILogger<CertificateProvider> logger)
    {
        _options = options;
        _paths = paths;
        _time = time;
        _logger = logger;
    }

    /// <summary>Where the generated certificate lives when none is configured.</summary>
    public string SelfSignedPath => Path.Combine(_paths.DataDirectory, "tls", "selfsigned.pfx");

    /// <summary>The loaded certificate, or null before <see cref="Load"/> (or when no listener uses TLS).</summary>
    public X509Certificate2? Certificate => _set?.Certificate;

    /// <summary>The RSA certificate offered to clients that cannot take <see cref="Certificate"/>, or null when none is configured.</summary>
    public X509Certificate2? RsaCertificate => _set?.RsaCertificate;

    /// <summary>The protocols every handshake allows, from <c>Tls:MinimumProtocol</c>.</summary>
    public SslProtocols Protocols => ProtocolsOf((_set?.Tls ?? _options.Tls).MinimumProtocol);

    private static SslProtocols ProtocolsOf(TlsMinimumProtocol minimum) => minimum == TlsMinimumProtocol.Tls13
        ? SslProtocols.Tls13
        : SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <inheritdoc />
    public string Name => "tls certificate";

    /// <summary>Loads (or generates) the certificates; idempotent. Failures are <see cref="StartupException"/> naming the key.</summary>
    public void Load()
    {
        lock (_lock)
        {
            if (_set is not null) return;
            _set = Build(_options.Tls);
        }
    }

    /// <summary>Reads the certificate and key files again (a renewed certificate) with the TLS settings of
    /// <paramref name="options"/>; new handshakes use them, handshakes under way finish with the old ones. On a
    /// <see cref="StartupException"/> the certificates in service stay.</summary>
    public void Reload(MtaOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        lock (_lock)
        {
            // Not loaded yet (no TLS listener): nothing is served, and Load reads the files when first needed.
            if (_set is null) return;
            // The old certificates are not disposed: a session that read the old set may still be in its handshake.
            _set = Build(options.Tls);
        }
    }

    private CertificateSet Build(TlsOptions tls)
    {
        var cert = tls.CertificateFile is { Length: > 0 } file
            ? LoadConfigured("Tls:CertificateFile", _paths.Resolve(file), tls.KeyFile is { Length: > 0 } k ? _paths.Resolve(k) : null, tls.Password)
            : LoadOrCreateSelfSigned();
        if (!cert.HasPrivateKey)
            throw new StartupException($"Tls:CertificateFile: '{tls.CertificateFile}' holds no private key");
        X509Certificate2? rsa = null;
        if (tls.RsaCertificateFile is { Length: > 0 } rsaFile)
        {
            rsa = LoadConfigured("Tls:RsaCertificateFile", _paths.Resolve(rsaFile), tls.RsaKeyFile is { Length: > 0 } rk ? _paths.Resolve(rk) : null, tls.RsaPassword);
            if (!rsa.HasPrivateKey) throw new StartupException($"Tls:RsaCertificateFile: '{rsaFile}' holds no private key");
            if (rsa.GetRSAPublicKey() is null) throw new StartupException($"Tls:RsaCertificateFile: '{rsaFile}' is not an RSA certificate");
            if (cert.GetECDsaPublicKey() is null)
                throw new StartupException("Tls:RsaCertificateFile: Tls:CertificateFile must then be an ECDSA certificate (the RSA one is offered beside it)");
        }
        // offline: the chain is built from what is at hand, never fetched (no network at start).
        var set = new CertificateSet(tls, cert, SslStreamCertificateContext.Create(cert, additionalCertificates: null, offline: true),
            rsa, rsa is null ? null : SslStreamCertificateContext.Create(rsa, additionalCertificates: null, offline: true),
            CreateCipherSuitesPolicy(tls), TlsCipherSuites.EcdsaSuites(TlsCipherSuites.Tls12(tls)));
        LogLoaded(cert.Subject, cert.Thumbprint, cert.NotAfter);
        if (rsa is not null) LogLoaded(rsa.Subject, rsa.Thumbprint, rsa.NotAfter);
        return set;
    }

    private sealed record CertificateSet(TlsOptions Tls, X509Certificate2 Certificate, SslStreamCertificateContext Context,
        X509Certificate2? RsaCertificate, SslStreamCertificateContext? RsaContext, CipherSuitesPolicy? CipherSuites, IReadOnlySet<ushort> EcdsaSuites);

    private CipherSuitesPolicy? CreateCipherSuitesPolicy(TlsOptions tls)
    {
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                return new CipherSuitesPolicy([.. TlsCipherSuites.Tls12(tls), .. TlsCipherSuites.Tls13]);
            }
            catch (PlatformNotSupportedException)
            {
                // An OpenSSL too old for suite lists: fall through to the system's choice.
            }
        }
        // Windows (SChannel) takes its suites from the system's policy.
        LogNoCipherPolicy();
        return null;
    }

    /// <summary>Options for one server-side handshake with the main certificate; built per connection because SslStream
    /// may keep a reference.</summary>
    public SslServerAuthenticationOptions ServerOptions() => ServerOptions(_set, useRsa: false);

    private static SslServerAuthenticationOptions ServerOptions(CertificateSet? set, bool useRsa)
    {
        if (set is null) throw new InvalidOperationException("the TLS certificate is not loaded");
        // A reload between CreateServerStream and the handshake may have removed the RSA certificate: the main one then.
        var context = useRsa ? set.RsaContext ?? set.Context : set.Context;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = context,
            EnabledSslProtocols = ProtocolsOf(set.Tls.MinimumProtocol),
            ClientCertificateRequired = false,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
        };
        // Windows has no cipher-suite policy (CreateCipherSuitesPolicy logged that and returned null): the system's list applies.
        if (!OperatingSystem.IsWindows()) options.CipherSuitesPolicy = set.CipherSuites;
        return options;
    }

    /// <summary>A server-side SslStream over <paramref name="transport"/> (not owned); with an RSA certificate configured
    /// the stream records the ClientHello, so that <see cref="AuthenticateAsync"/> can pick the certificate.</summary>
    public SslStream CreateServerStream(Stream transport) =>
        _set?.RsaContext is null ? new SslStream(transport, leaveInnerStreamOpen: true) : new RecordingSslStream(new ClientHelloRecorder(transport));

    /// <summary>Runs the server handshake on a stream from <see cref="CreateServerStream"/>.</summary>
    public Task AuthenticateAsync(SslStream ssl, CancellationToken cancellationToken) =>
        ssl is RecordingSslStream recording
            ? ssl.AuthenticateAsServerAsync(SelectOptions, recording.Recorder, cancellationToken)
            : ssl.AuthenticateAsServerAsync(ServerOptions(), cancellationToken);

    // .NET's SslClientHelloInfo carries only SNI and versions; the recorder gives the rest of the ClientHello. The ECDSA
    // certificate is the default: RSA only for a client whose hello shows it cannot verify ECDSA.
    private ValueTask<SslServerAuthenticationOptions> SelectOptions(SslStream ssl, SslClientHelloInfo info, object? state, CancellationToken ct)
    {
        var set = _set;
        var hello = ((ClientHelloRecorder)state!).TakeHello();
        var useRsa = hello is not null && set is not null
            && !hello.AcceptsEcdsa(ProtocolsOf(set.Tls.MinimumProtocol).HasFlag(SslProtocols.Tls13), set.EcdsaSuites);
        return ValueTask.FromResult(ServerOptions(set, useRsa));
    }

    private static X509Certificate2 LoadConfigured(string key, string file, string? keyFile, string? password)
    {
        try
        {
            if (IsPem(file))
            {
                using var pem = X509Certificate2.CreateFromPemFile(file, keyFile is { Length: > 0 } ? keyFile : null);
                // A key read from PEM is ephemeral; on Linux SslStream needs it re-imported from PKCS#12.
                return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            return X509CertificateLoader.LoadPkcs12FromFile(file, password);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new StartupException($"{key}: cannot load '{file}': {ex.Message}", ex);
        }
    }

    private static bool IsPem(string file)
    {
        using var stream = File.OpenRead(file);
        Span<byte> head = stackalloc byte[64];
        var n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return System.Text.Encoding.ASCII.GetString(head[..n]).Contains("-----BEGIN", StringComparison.Ordinal);
    }

    private X509Certificate2 LoadOrCreateSelfSigned()
    {
        var path = SelfSignedPath;
        var subject = "CN=" + _options.HostName;
        if (File.Exists(path))
        {
            try
            {
                var existing = X509CertificateLoader.LoadPkcs12FromFile(path, null);
                if (existing.HasPrivateKey && existing.Subject == subject && existing.NotAfter.ToUniversalTime() > _time.GetUtcNow().UtcDateTime + RenewBefore)
                    return existing;
                existing.Dispose();
                LogRegenerating(path, "expired, expiring or issued for another host name");
            }
            catch (CryptographicException ex)
            {
                LogRegenerating(path, ex.Message);
            }
        }
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var bytes = CreateSelfSigned(_options.HostName, _time.GetUtcNow());
            var temp = path + ".tmp";
            File.Delete(temp);
            var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            // 0600 from the start: the file holds the private key.
            if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var stream = new FileStream(temp, fileOptions))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            LogGenerated(path);
            return X509CertificateLoader.LoadPkcs12(bytes, null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new StartupException($"DataDirectory: cannot create the self-signed TLS certificate {path}: {ex.Message}", ex);
        }
    }

    /// <summary>An ECDSA P-256 certificate for <paramref name="hostName"/> (CN and SAN), valid two years, as PKCS#12 bytes.</summary>
    internal static byte[] CreateSelfSigned(string hostName, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + hostName, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostName);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        // Back-dated an hour so that a client with a slightly slow clock accepts it at once.
        using var cert = request.CreateSelfSigned(now.AddHours(-1), now + SelfSignedLifetime);
        return cert.Export(X509ContentType.Pkcs12);
    }

    public void Dispose()
    {
        Certificate?.Dispose();
        RsaCertificate?.Dispose();
    }

    [LoggerMessage(EventId = LogEvents.Tls.CertificateLoaded, Level = LogLevel.Information, Message = "TLS certificate {Subject} thumbprint={Thumbprint} valid until {NotAfter:u}")]
    private partial void LogLoaded(string subject, string thumbprint, DateTime notAfter);

    [LoggerMessage(EventId = LogEvents.Tls.CertificateGenerated, Level = LogLevel.Warning, Message = "no Tls:CertificateFile configured: generated a self-signed certificate in {Path}")]
    private partial void LogGenerated(string path);

    [LoggerMessage(EventId = LogEvents.Tls.CertificateRegenerating, Level = LogLevel.Information, Message = "self-signed certificate {Path} is replaced: {Reason}")]
    private partial void LogRegenerating(string path, string reason);

    [LoggerMessage(EventId = LogEvents.Tls.NoCipherPolicy, Level = LogLevel.Warning, Message = "this platform does not let Tls:AllowCbcSuites and Tls:CipherSuites choose the cipher suites; the system's defaults apply")]
    private partial void LogNoCipherPolicy();
}
