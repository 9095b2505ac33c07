// Test helpers for DKIM signing: keys written to a temporary data directory, a key locator over their records, MimeKit
// verification of raw bytes and dkimpy (python3-dkim) as an independent verifier.
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MimeKit;
using MimeKit.Cryptography;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto;

namespace Mta.Engine.Tests.Authentication.Signing;

/// <summary>A data directory with DKIM keys and the options naming them.</summary>
public sealed class SigningFixture : IDisposable
{
    public SigningFixture()
    {
        DataDirectory = Path.Combine(Path.GetTempPath(), "mta-dkim-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(DataDirectory);
        Options = new MtaOptions { DataDirectory = DataDirectory, HostName = "mx.example.org" };
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(DkimKeyAlgorithm Algorithm, int Bits, string Selector), AsymmetricKeyParameter> CachedKeys = new();

    public string DataDirectory { get; }
    public MtaOptions Options { get; }
    public DkimSigningOptions Signing => Options.Authentication.Signing;
    public MtaPaths Paths => new(Options);

    /// <summary>Generates a key into KeyDirectory/DOMAIN/SELECTOR.key and configures the selector.</summary>
    public string AddKey(string domain, string selector, DkimKeyAlgorithm algorithm, bool sign = true, int bits = 2048)
    {
        var path = DkimKeyStore.DefaultKeyFile(DkimKeyStore.ResolveKeyDirectory(Signing, Paths), domain, selector);
        // Generated keys are shared between tests (by algorithm, size and selector): RSA generation is slow on a busy machine.
        var key = CachedKeys.GetOrAdd((algorithm, bits, selector), k => DkimKeyGenerator.Generate(k.Algorithm, k.Bits));
        DkimKeyGenerator.WritePrivateKey(path, key);
        Configure(domain, new DkimSelectorOptions { Selector = selector, Algorithm = algorithm, Sign = sign });
        return path;
    }

    public void Configure(string domain, DkimSelectorOptions selector)
    {
        if (!Signing.Domains.TryGetValue(domain, out var d)) Signing.Domains[domain] = d = new DkimDomainOptions();
        d.Selectors.Add(selector);
    }

    public DkimKeyStore Store() => new(Options, Paths);

    public void Dispose()
    {
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Public keys by <c>SELECTOR._domainkey.DOMAIN</c>, parsed from the records Mta prints.</summary>
public sealed class RecordKeyLocator : DkimPublicKeyLocatorBase
{
    public Dictionary<string, string> Records { get; } = new(StringComparer.OrdinalIgnoreCase);

    public RecordKeyLocator(IEnumerable<DkimSigningKey> keys)
    {
        foreach (var key in keys) Records[key.DnsName] = key.PublicKeyRecord;
    }

    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        Records.TryGetValue($"{selector}._domainkey.{domain}", out var record)
            ? GetPublicKey(record)
            : throw new ParseException($"no key for {selector}._domainkey.{domain}", 0, 0);

    public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        Task.FromResult(LocatePublicKey(methods, domain, selector, cancellationToken));
}

public static class SignatureCheck
{
    /// <summary>Each DKIM-Signature of the raw message verified by MimeKit's own parser and verifier, top first.</summary>
    public static bool[] MimeKitVerify(byte[] raw, IDkimPublicKeyLocator locator)
    {
        var message = MimeMessage.Load(new MemoryStream(raw));
        var verifier = new DkimVerifier(locator);
        verifier.Enable(DkimSignatureAlgorithm.Ed25519Sha256);
        return [.. message.Headers.Where(h => h.Id == HeaderId.DkimSignature).Select(h => verifier.Verify(message, h))];
    }

    public static byte[] Prepend(IEnumerable<string> fields, byte[] message) =>
        [.. Encoding.ASCII.GetBytes(string.Concat(fields)), .. message];

    public static byte[] Crlf(string text) => Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n"));

    /// <summary>Debian's python3 (with python3-dkim), or null when it is not installed.</summary>
    public static string? PythonWithDkim() => Python.Value;

    private static readonly Lazy<string?> Python = new(FindPythonWithDkim);

    private static string? FindPythonWithDkim()
    {
        foreach (var python in new[] { "/usr/bin/python3", "python3" })
        {
            try
            {
                var (code, _) = RunPython(python, "import dkim, nacl", []);
                if (code == 0) return python;
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }

    private const string DkimpyVerifyScript = """
        import dkim, json, sys
        records = json.load(open(sys.argv[1]))
        def dns(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            record = records.get(name.rstrip('.').lower())
            return record.encode() if record else None
        for path in sys.argv[2:]:
            try:
                d = dkim.DKIM(open(path, 'rb').read())
            except dkim.MessageFormatError:
                print('unparsable')   # dkimpy refuses some header syntax RFC 5322's obsolete forms allow
                continue
            count = sum(1 for n, v in d.headers if n.lower() == b'dkim-signature')
            print(' '.join('pass' if d.verify(idx=i, dnsfunc=dns) else 'fail' for i in range(count)))
        """;

    /// <summary>dkimpy's verdict on each DKIM-Signature, top first ("pass"/"fail").</summary>
    public static string[] DkimpyVerify(string python, byte[] raw, IEnumerable<DkimSigningKey> keys) => DkimpyVerify(python, [raw], keys)[0];

    /// <summary>dkimpy's verdicts for several messages in one python process (starting one is slow on a busy machine).</summary>
    public static string[][] DkimpyVerify(string python, IReadOnlyList<byte[]> messages, IEnumerable<DkimSigningKey> keys)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mta-dkimpy-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(directory);
        try
        {
            var recordsPath = Path.Combine(directory, "records.json");
            File.WriteAllText(recordsPath, JsonSerializer.Serialize(keys.ToDictionary(k => k.DnsName.ToLowerInvariant(), k => k.PublicKeyRecord)));
            var paths = messages.Select((m, i) => Path.Combine(directory, $"message{i}.eml")).ToArray();
            for (var i = 0; i < paths.Length; i++) File.WriteAllBytes(paths[i], messages[i]);
            var (code, output) = RunPython(python, DkimpyVerifyScript, [recordsPath, .. paths]);
            Assert.True(code == 0, "dkimpy failed: " + output);
            var lines = output.TrimEnd('\n').Split('\n');
            Assert.True(lines.Length == messages.Count, output);
            return [.. lines.Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private const string DkimpyArcVerifyScript = """
        import dkim, json, sys
        data = open(sys.argv[1], 'rb').read()
        records = json.load(open(sys.argv[2]))
        def dns(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            record = records.get(name.rstrip('.').lower())
            return record.encode() if record else None
        cv, results, reason = dkim.arc_verify(data, dnsfunc=dns)
        print(cv.decode() if isinstance(cv, bytes) else cv, reason, file=sys.stderr)
        print(cv.decode() if isinstance(cv, bytes) else cv)
        """;

    /// <summary>dkimpy's ARC chain validation result ("pass", "fail", "none") on the first line, then its reason.</summary>
    public static string DkimpyArcVerify(string python, byte[] raw, IReadOnlyDictionary<string, string> records)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mta-dkimpy-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(directory);
        try
        {
            var messagePath = Path.Combine(directory, "message.eml");
            var recordsPath = Path.Combine(directory, "records.json");
            File.WriteAllBytes(messagePath, raw);
            File.WriteAllText(recordsPath, JsonSerializer.Serialize(records.ToDictionary(r => r.Key.ToLowerInvariant(), r => r.Value)));
            var (code, output) = RunPython(python, DkimpyArcVerifyScript, [messagePath, recordsPath]);
            Assert.True(code == 0, "dkimpy failed: " + output);
            return output;
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static (int Code, string Output) RunPython(string python, string script, string[] args)
    {
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000)) { process.Kill(); throw new TimeoutException("python did not finish"); }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
