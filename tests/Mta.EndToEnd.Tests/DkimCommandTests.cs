// `mta dkim keygen|show|sign` as a process: a 0600 key, a record that parses, the same record again from show, and
// signed output that MimeKit's verifier accepts over the exact bytes printed.
using System.Diagnostics;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Mta.EndToEnd.Tests.Infrastructure;
using Org.BouncyCastle.Crypto;

namespace Mta.EndToEnd.Tests;

public sealed class DkimCommandTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-dkimcmd-" + Guid.NewGuid().ToString("n")[..12]);
    private string _config;

    public DkimCommandTests() => _config = MtaProcess.WriteConfig(_data);

    public void Dispose()
    {
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }

    private void ConfigureSelectors(params object[] selectors) =>
        _config = MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            ["Authentication"] = new { Signing = new { Domains = new Dictionary<string, object> { ["example.org"] = new { Selectors = selectors } } } },
        });

    private static string RecordIn(string output) =>
        output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("v=DKIM1;", StringComparison.Ordinal));

    [Theory]
    [InlineData("rsa", "k=rsa")]
    [InlineData("ed25519", "k=ed25519")]
    public async Task Keygen_show_and_sign(string algorithm, string k)
    {
        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "keygen", "Example.org", "--selector", "s1", "--algorithm", algorithm, "--config", _config);

        Assert.True(code == 0, output);
        var keyFile = Path.Combine(_data, "dkim", "example.org", "s1.key");
        Assert.Contains(keyFile, output);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        var record = RecordIn(output);
        Assert.StartsWith($"v=DKIM1; {k}; p=", record);
        Assert.Contains("Publish this TXT record at s1._domainkey.example.org:", output);
        Assert.Contains("s1._domainkey.example.org. IN TXT ( \"v=DKIM1; " + k + "; \" \"p=", output);
        Assert.Contains("\"Selector\": \"s1\"", output);                     // the snippet to add: the config is not edited
        Assert.DoesNotContain("Selectors", await File.ReadAllTextAsync(_config));
        var publicKey = RecordLocator.Parse(record);                          // the record parses as a DKIM key
        Assert.False(publicKey.IsPrivate);

        ConfigureSelectors(new { Selector = "s1", Algorithm = algorithm == "rsa" ? "Rsa" : "Ed25519" });
        (code, output) = await MtaProcess.RunToEndAsync("dkim", "show", "example.org", "--config", _config);
        Assert.True(code == 0, output);
        Assert.Equal(record, RecordIn(output));
        Assert.Contains("signing", output);

        var message = Path.Combine(_data, "message.eml");
        await File.WriteAllTextAsync(message, "From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: Hello\n\nHi Bob.\n");
        var (signCode, signed, errors) = await RunForBytesAsync("dkim", "sign", message, "--dns", "127.0.0.1:53", "--config", _config);
        Assert.True(signCode == 0, errors);
        var text = Encoding.ASCII.GetString(signed);
        Assert.StartsWith("DKIM-Signature: v=1; a=" + (algorithm == "rsa" ? "rsa-sha256" : "ed25519-sha256") + "; d=example.org; s=s1;", text);
        Assert.EndsWith("\r\n\r\nHi Bob.\r\n", text);
        var parsed = MimeMessage.Load(new MemoryStream(signed));
        var verifier = new DkimVerifier(new RecordLocator(record));
        verifier.Enable(DkimSignatureAlgorithm.Ed25519Sha256);
        Assert.True(verifier.Verify(parsed, parsed.Headers.Single(h => h.Id == HeaderId.DkimSignature)));
    }

    [Fact]
    public async Task Keygen_refuses_to_replace_a_key_without_force()
    {
        Assert.Equal(0, (await MtaProcess.RunToEndAsync("dkim", "keygen", "example.org", "-s", "s1", "-a", "ed25519", "--config", _config)).ExitCode);
        var keyFile = Path.Combine(_data, "dkim", "example.org", "s1.key");
        var first = await File.ReadAllTextAsync(keyFile);

        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "keygen", "example.org", "-s", "s1", "-a", "ed25519", "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("already exists", output);
        Assert.Equal(first, await File.ReadAllTextAsync(keyFile));

        (code, output) = await MtaProcess.RunToEndAsync("dkim", "keygen", "example.org", "-s", "s1", "-a", "ed25519", "--force", "--config", _config);
        Assert.True(code == 0, output);
        Assert.NotEqual(first, await File.ReadAllTextAsync(keyFile));
    }

    [Fact]
    public async Task The_default_selector_is_the_month()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "keygen", "example.org", "--algorithm", "ed25519", "--config", _config);
        Assert.True(code == 0, output);
        var month = DateTime.UtcNow.ToString("yyyyMM", System.Globalization.CultureInfo.InvariantCulture);
        // Around midnight at the end of a month the process may have seen the next one.
        Assert.True(output.Contains($"{month}ed._domainkey.example.org") || output.Contains($"{DateTime.UtcNow.AddMinutes(-5):yyyyMM}ed._domainkey"), output);
    }

    [Theory]
    [InlineData("dkim", "keygen")]                                                   // no DOMAIN
    [InlineData("dkim", "keygen", "not a domain")]
    [InlineData("dkim", "keygen", "example.org", "--algorithm", "dsa")]
    [InlineData("dkim", "keygen", "example.org", "--bits", "512")]
    [InlineData("dkim", "keygen", "example.org", "--algorithm", "ed25519", "--bits", "2048")]
    [InlineData("dkim", "keygen", "example.org", "--selector", "a_b")]
    [InlineData("dkim", "keygen", "example.org", "--frobnicate")]
    [InlineData("dkim", "show")]
    [InlineData("dkim", "sign")]
    public async Task Bad_usage_exits_2_and_writes_no_key(params string[] args)
    {
        var (code, output) = await MtaProcess.RunToEndAsync([.. args, "--config", _config]);
        Assert.True(code == 2, $"exit {code}: {output}");
        Assert.False(Directory.Exists(Path.Combine(_data, "dkim")));
    }

    [Fact]
    public async Task A_configured_key_that_is_missing_exits_2_naming_it()
    {
        ConfigureSelectors(new { Selector = "gone", Algorithm = "Rsa" });
        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "show", "example.org", "--config", _config);
        Assert.Equal(2, code);
        Assert.Contains("Authentication:Signing:Domains:example.org:Selectors:0:KeyFile", output);
    }

    [Fact]
    public async Task Show_and_sign_for_a_domain_without_keys_exit_1()
    {
        var message = Path.Combine(_data, "message.eml");
        await File.WriteAllTextAsync(message, "From: alice@example.com\n\nx\n");
        Assert.Equal(1, (await MtaProcess.RunToEndAsync("dkim", "show", "example.com", "--config", _config)).ExitCode);
        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "sign", message, "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("no signing DKIM selector is configured for example.com", output);
    }

    // Standard output as bytes: MtaProcess collects text lines, which would hide the CRLF line ends being tested.
    private static async Task<(int Code, byte[] Stdout, string Stderr)> RunForBytesAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(MtaProcess.MtaDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout, cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        await process.WaitForExitAsync(cts.Token);
        await copy;
        return (process.ExitCode, stdout.ToArray(), await stderr);
    }

    private sealed class RecordLocator(string record) : DkimPublicKeyLocatorBase
    {
        public static AsymmetricKeyParameter Parse(string record) => GetPublicKey(record);

        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            GetPublicKey(record);

        public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(GetPublicKey(record));
    }
}
