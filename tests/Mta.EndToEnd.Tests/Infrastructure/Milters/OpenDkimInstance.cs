// A private OpenDKIM milter: its own key pair (opendkim-genkey), config file and UNIX socket under a temp folder.
namespace Mta.EndToEnd.Tests.Infrastructure.Milters;

/// <summary>
/// <c>opendkim -f -x CONF</c> in the foreground, signing mail of <see cref="Domain"/> with selector <see cref="Selector"/>
/// (a 2048-bit RSA key made by <c>opendkim-genkey</c> for this instance) and verifying everything else. Mail from
/// <c>InternalHosts</c> (127.0.0.1, where the tests' clients connect from) is signed; in <see cref="OpenDkimMode.Verify"/>
/// nothing is signed and every message gets OpenDKIM's Authentication-Results field, the keys it needs coming from
/// <see cref="TestPublicKeys"/> (OpenDKIM's own test hook for a key table, since these tests have no DNS).
/// The config written here is the one docs/milter.md shows, with the temp folder's paths.
/// </summary>
public sealed class OpenDkimInstance : IAsyncDisposable
{
    public const string Domain = "example.test";
    public const string Selector = "mta";
    /// <summary>The authserv-id OpenDKIM writes into Authentication-Results.</summary>
    public const string AuthservId = "dkim.mta.test";

    private static readonly string? Program = DaemonProcess.FindProgram("/usr/sbin/opendkim", "/usr/local/sbin/opendkim");
    private static readonly string? GenKey = DaemonProcess.FindProgram("/usr/sbin/opendkim-genkey", "/usr/bin/opendkim-genkey", "/usr/local/sbin/opendkim-genkey");

    private readonly DaemonProcess _process;

    private OpenDkimInstance(string root, DaemonProcess process, string publicKeyRecord)
    {
        Root = root;
        _process = process;
        PublicKeyRecord = publicKeyRecord;
    }

    public string Root { get; }
    /// <summary>Where it listens, in Postfix's form (what Mta's <c>Milters:Definitions:NAME:Address</c> takes).</summary>
    public string Address => "unix:" + SocketPath;
    public string SocketPath => Path.Combine(Root, "opendkim.sock");
    public string ConfigFile => Path.Combine(Root, "opendkim.conf");
    /// <summary>The TXT record text for <c>mta._domainkey.example.test</c>, as opendkim-genkey wrote it, quotes and
    /// parentheses removed: <c>v=DKIM1; h=sha256; k=rsa; p=...</c>.</summary>
    public string PublicKeyRecord { get; }
    /// <summary>The DNS name the record belongs at.</summary>
    public static string KeyName => $"{Selector}._domainkey.{Domain}";
    /// <summary>A file mapping key names to records, OpenDKIM's <c>TestPublicKeys</c> format (a verifier's DNS).</summary>
    public string TestPublicKeys => Path.Combine(Root, "test-keys");
    public string Output => _process.Output;
    public bool HasExited => _process.HasExited;

    public static string? UnavailableReason =>
        !OperatingSystem.IsLinux() ? "OpenDKIM tests run on Linux only"
        : Program is null ? "opendkim is not installed (apt-get install opendkim)"
        : GenKey is null ? "opendkim-genkey is not installed (apt-get install opendkim-tools)"
        : null;

    public static void SkipIfUnavailable()
    {
        if (UnavailableReason is { } reason) Assert.Skip(reason);
    }

    public static async Task<OpenDkimInstance> StartAsync(OpenDkimMode mode = OpenDkimMode.SignAndVerify, CancellationToken ct = default)
    {
        if (UnavailableReason is { } reason) throw new InvalidOperationException(reason);
        var root = DaemonProcess.NewTempFolder("opendkim");
        DaemonProcess? process = null;
        try
        {
            var (code, output) = await DaemonProcess.RunToEndAsync(GenKey!, ["-D", root, "-d", Domain, "-s", Selector, "-b", "2048"], ct);
            if (code != 0) throw new InvalidOperationException($"opendkim-genkey failed ({code}): {output}");
            var record = ParseZoneRecord(await File.ReadAllTextAsync(Path.Combine(root, Selector + ".txt"), ct));
            await File.WriteAllTextAsync(Path.Combine(root, "test-keys"), $"{KeyName} {record}\n", ct);

            var config = Path.Combine(root, "opendkim.conf");
            await File.WriteAllTextAsync(config, Config(root, mode), ct);
            process = DaemonProcess.Start("opendkim", Program!, ["-f", "-x", config]);
            var instance = new OpenDkimInstance(root, process, record);
            await process.WaitForSocketAsync(instance.Address, TimeSpan.FromSeconds(20), ct);
            return instance;
        }
        catch
        {
            if (process is not null) await process.DisposeAsync();
            DaemonProcess.DeleteQuietly(root);
            throw;
        }
    }

    /// <summary>The opendkim.conf of this instance; docs/milter.md shows the same with system paths.</summary>
    public static string Config(string root, OpenDkimMode mode) => $"""
        # Written by Mta.EndToEnd.Tests OpenDkimInstance: a private instance, removed after the tests.
        Syslog                  no
        Background              no
        LogWhy                  yes
        Mode                    {(mode == OpenDkimMode.Verify ? "v" : "sv")}
        Domain                  {Domain}
        Selector                {Selector}
        KeyFile                 {Path.Combine(root, Selector + ".private")}
        Socket                  local:{Path.Combine(root, "opendkim.sock")}
        PidFile                 {Path.Combine(root, "opendkim.pid")}
        # The socket is open to every local user: a test's Postfix connects to it as user postfix. A site uses 007 and
        # puts the MTA's user in the opendkim group instead.
        UMask                   000
        TemporaryDirectory      {root}
        Canonicalization        relaxed/simple
        SignatureAlgorithm      rsa-sha256
        # Mail from these clients is signed, not verified.
        InternalHosts           {(mode == OpenDkimMode.Verify ? "192.0.2.1" : "127.0.0.1")}
        AuthservID              {AuthservId}
        AlwaysAddARHeader       yes
        SoftwareHeader          yes
        # The key file is owned by root and the tests run as root; a site keeps it 0600 for the opendkim user.
        RequireSafeKeys         no
        # No DNS in the tests: public keys for verification come from this file.
        TestPublicKeys          {Path.Combine(root, "test-keys")}

        """;

    /// <summary>Joins the quoted strings of a BIND zone line (<c>NAME IN TXT ( "a" "b" ) ; comment</c>) into the record.</summary>
    public static string ParseZoneRecord(string zoneLine)
    {
        var text = zoneLine;
        var comment = text.IndexOf(';', text.LastIndexOf('"') + 1);
        if (comment >= 0) text = text[..comment];
        var parts = new List<string>();
        for (var i = text.IndexOf('"'); i >= 0; i = text.IndexOf('"', i + 1))
        {
            var end = text.IndexOf('"', i + 1);
            parts.Add(text[(i + 1)..end]);
            i = end;
        }
        return string.Concat(parts).Trim();
    }

    /// <summary>Stops the filter but keeps its folder (a test of a milter that went away).</summary>
    public Task StopAsync() => _process.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        DaemonProcess.DeleteQuietly(Root);
    }
}

public enum OpenDkimMode
{
    /// <summary>Signs mail from internal hosts (127.0.0.1), verifies the rest.</summary>
    SignAndVerify,
    /// <summary>Signs nothing; verifies every message and adds Authentication-Results.</summary>
    Verify,
}
