// Verifies a stored message's DKIM signature with Debian's python3-dkim (dkimpy), its key given instead of looked up in DNS.
namespace Mta.EndToEnd.Tests.Infrastructure.Milters;

/// <summary>
/// An independent verifier for signatures made by a milter: dkimpy's <c>dkim.verify</c> with a <c>dnsfunc</c> that
/// answers the one key name with the record opendkim-genkey wrote (dkimverify would ask real DNS, which tests have not).
/// </summary>
public static class DkimPyVerifier
{
    private const string Script = """
        import sys, dkim
        message = open(sys.argv[1], 'rb').read()
        # A Maildir file may hold bare LF line ends; DKIM is defined over CRLF, as the message travelled.
        if b'\r\n' not in message:
            message = message.replace(b'\n', b'\r\n')
        name = sys.argv[2].encode().rstrip(b'.').lower()
        record = sys.argv[3].encode()
        def dnsfunc(qname, timeout=5):
            q = qname if isinstance(qname, bytes) else qname.encode()
            return record if q.rstrip(b'.').lower() == name else None
        verifier = dkim.DKIM(message)
        ok = verifier.verify(dnsfunc=dnsfunc)
        print('pass' if ok else 'fail')
        sys.exit(0 if ok else 1)
        """;

    private const string Missing = "python3-dkim is not installed (apt-get install python3-dkim): no python3 here imports dkim";
    private static readonly Lazy<Task<string?>> Python = new(FindPythonWithDkimAsync);

    public static async Task SkipIfUnavailableAsync()
    {
        if (await Python.Value is null) Assert.Skip(Missing);
    }

    /// <summary>True when dkimpy verifies the first DKIM-Signature of the message in <paramref name="messageFile"/>;
    /// the output says why not.</summary>
    public static async Task<(bool Verified, string Output)> VerifyAsync(string messageFile, string keyName, string keyRecord, CancellationToken ct)
    {
        var python = await Python.Value ?? throw new InvalidOperationException(Missing);
        var (code, output) = await DaemonProcess.RunToEndAsync(python, ["-c", Script, messageFile, keyName, keyRecord], ct);
        return (code == 0 && output.Trim() == "pass", output);
    }

    private static async Task<string?> FindPythonWithDkimAsync()
    {
        // Debian's package installs into the system python; a python3 earlier on PATH (pyenv) may not see it.
        foreach (var candidate in new[] { "/usr/bin/python3", "/usr/local/bin/python3" })
        {
            if (!File.Exists(candidate)) continue;
            try
            {
                var (code, _) = await DaemonProcess.RunToEndAsync(candidate, ["-c", "import dkim"], CancellationToken.None);
                if (code == 0) return candidate;
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or TimeoutException) { }
        }
        return null;
    }
}
