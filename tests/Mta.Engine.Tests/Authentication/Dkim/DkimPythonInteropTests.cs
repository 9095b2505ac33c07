// Interoperability: messages signed by an independent implementation (Debian's python3-dkim, dkimpy) verify here.
using System.Diagnostics;
using System.Text;
using Mta.Abstractions;
using Mta.Engine.Authentication.Dkim;
using static Mta.Engine.Tests.Authentication.Dkim.DkimMessages;

namespace Mta.Engine.Tests.Authentication.Dkim;

public sealed class DkimPythonInteropTests : IAsyncLifetime
{
    private const string Domain = "example.org";
    private readonly DkimDns _dns = DkimDns.Start();
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mta-dkimpy-" + Guid.NewGuid().ToString("N"));

    public ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _dns.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static string? Tool(string name) =>
        new[] { "/usr/bin", "/usr/local/bin" }.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private async Task<(int Exit, string Output, string Error)> Run(string tool, string arguments, string? input = null)
    {
        var start = new ProcessStartInfo(tool, arguments)
        {
            WorkingDirectory = _dir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        if (input is not null) await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output, await error);
    }

    [Theory]
    [InlineData("rsa", "rsa-sha256", "relaxed", "simple")]
    [InlineData("rsa", "rsa-sha256", "simple", "relaxed")]
    [InlineData("ed25519", "ed25519-sha256", "relaxed", "relaxed")]
    public async Task A_message_signed_by_dkimpy_passes(string keyType, string algorithm, string headerCanon, string bodyCanon)
    {
        var dknewkey = Tool("dknewkey");
        var dkimsign = Tool("dkimsign");
        if (dknewkey is null || dkimsign is null)
            Assert.Skip("python3-dkim (dknewkey, dkimsign) is not installed: apt-get install python3-dkim");

        var made = await Run(dknewkey, $"--ktype {keyType} key");
        Assert.True(made.Exit == 0, made.Error);
        // dknewkey writes key.key (the private key, PEM) and key.dns (the TXT record text).
        var record = (await File.ReadAllTextAsync(Path.Combine(_dir, "key.dns"), TestContext.Current.CancellationToken)).Trim();
        _dns.Server.AddTxt($"py._domainkey.{Domain}", record);

        var signed = await Run(dkimsign, $"--signalg {algorithm} --hcanon {headerCanon} --bcanon {bodyCanon} py {Domain} key.key", Plain);
        if (signed.Exit != 0 && algorithm.StartsWith("ed25519", StringComparison.Ordinal) && signed.Error.Contains("nacl", StringComparison.OrdinalIgnoreCase))
            Assert.Skip("dkimpy cannot sign with ed25519 here (python3-nacl missing): " + signed.Error);
        Assert.True(signed.Exit == 0, signed.Error);
        Assert.StartsWith("DKIM-Signature:", signed.Output, StringComparison.Ordinal);

        var verifier = new DkimVerification(_dns.Resolver, TimeProvider.System);
        var check = Assert.Single(await verifier.VerifyAsync(Parse(signed.Output), TestContext.Current.CancellationToken));
        Assert.Equal(DkimResult.Pass, check.Result);
        Assert.Equal((Domain, "py", algorithm), (check.Domain, check.Selector, check.Algorithm));

        var tampered = Assert.Single(await verifier.VerifyAsync(Parse(ReplaceOnce(signed.Output, "at noon", "at one")), TestContext.Current.CancellationToken));
        Assert.Equal((DkimResult.Fail, DkimProblem.BodyHashMismatch), (tampered.Result, tampered.Problem));
    }
}
