// `mta auth spf|verify` as a process against the stub DNS server given with --dns: spfquery- and opendkim-testmsg-style tools.
using System.Text;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Testing;

namespace Mta.EndToEnd.Tests;

public sealed class AuthCommandTests : IAsyncLifetime
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "mta-authcmd-" + Guid.NewGuid().ToString("n")[..12]);
    private StubDnsServer _dns = null!;
    private string _config = "";

    public ValueTask InitializeAsync()
    {
        _dns = StubDnsServer.Start();
        _config = MtaProcess.WriteConfig(_data);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _dns.DisposeAsync();
        MtaTestServer.DeleteQuietly(_data);
    }

    private string Dns => _dns.EndPoint.ToString();

    [Fact]
    public async Task Spf_prints_each_identity_s_result_and_exits_0_only_for_pass()
    {
        _dns.AddTxt("spf.test", "v=spf1 ip4:192.0.2.0/24 -all");
        _dns.AddTxt("mx.spf.test", "v=spf1 a -all");
        _dns.AddA("mx.spf.test", "192.0.2.25");

        var (code, output) = await MtaProcess.RunToEndAsync("auth", "spf", "--ip", "192.0.2.25", "--sender", "alice@spf.test", "--helo", "mx.spf.test",
            "--dns", Dns, "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("spf=pass smtp.helo=mx.spf.test", output);
        Assert.Contains("spf=pass smtp.mailfrom=alice@spf.test", output);

        (code, output) = await MtaProcess.RunToEndAsync("auth", "spf", "--ip", "198.51.100.7", "--sender", "alice@spf.test", "--dns", Dns, "--config", _config);
        Assert.Equal(1, code);
        Assert.Contains("spf=fail smtp.mailfrom=alice@spf.test", output);

        // <> is checked as postmaster@HELO (RFC 7208 2.4).
        (code, output) = await MtaProcess.RunToEndAsync("auth", "spf", "--ip", "192.0.2.25", "--sender", "<>", "--helo", "mx.spf.test", "--dns", Dns, "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("smtp.mailfrom=postmaster@mx.spf.test", output);
    }

    [Fact]
    public async Task Verify_prints_the_Authentication_Results_field_the_server_would_add()
    {
        PublishSender();
        var file = Path.Combine(_data, "signed.eml");
        // Saved with LF line ends, as an operator's editor would: the tool reads it as it would have come over SMTP.
        await File.WriteAllTextAsync(file, AuthenticationFixture.Signed("bob@sender.test").Replace("\r\n", "\n"), TestContext.Current.CancellationToken);

        var (code, output) = await MtaProcess.RunToEndAsync("auth", "verify", file, "--ip", "127.0.0.1", "--sender", "bob@sender.test",
            "--helo", "client.test", "--dns", Dns, "--config", _config);
        Assert.True(code == 0, output);
        var field = output.Split('\n').Single(l => l.StartsWith("Authentication-Results:", StringComparison.Ordinal));
        Assert.StartsWith("Authentication-Results: mta.test;", field);
        Assert.Contains("spf=pass", output);
        Assert.Contains("dkim=pass", output);
        Assert.Contains("header.d=sender.test", output);
        Assert.Contains("dmarc=pass", output);

        // Without a client address there is no SPF; a changed body fails DKIM, and so DMARC.
        await File.WriteAllTextAsync(file, AuthenticationFixture.Signed("bob@sender.test").Replace("A signed message.", "A changed one."), TestContext.Current.CancellationToken);
        (code, output) = await MtaProcess.RunToEndAsync("auth", "verify", file, "--dns", Dns, "--config", _config);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("spf=", output);
        Assert.Contains("dkim=fail (body hash did not verify)", output);
        Assert.Contains("dmarc=fail", output);
    }

    [Fact]
    public async Task A_message_signed_by_mta_dkim_sign_verifies_with_mta_auth_verify()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("dkim", "keygen", "example.org", "--selector", "k1", "--algorithm", "ed25519", "--config", _config);
        Assert.True(code == 0, output);
        _dns.AddTxt("k1._domainkey.example.org", output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("v=DKIM1;", StringComparison.Ordinal)));
        _config = MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            ["Authentication"] = new { Signing = new { Domains = new Dictionary<string, object> { ["example.org"] = new { Selectors = new[] { new { Selector = "k1", Algorithm = "Ed25519" } } } } } },
        });
        var message = Path.Combine(_data, "plain.eml");
        await File.WriteAllTextAsync(message, "From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n", TestContext.Current.CancellationToken);

        (code, output) = await MtaProcess.RunToEndAsync("dkim", "sign", message, "--domain", "example.org", "--config", _config);
        Assert.True(code == 0, output);
        var signed = Path.Combine(_data, "signed.eml");
        await File.WriteAllTextAsync(signed, output, TestContext.Current.CancellationToken);

        (code, output) = await MtaProcess.RunToEndAsync("auth", "verify", signed, "--dns", Dns, "--config", _config);
        Assert.True(code == 0, output);
        Assert.Contains("dkim=pass", output);
        Assert.Contains("header.a=ed25519-sha256", output);
    }

    [Fact]
    public async Task Mta_check_fails_on_a_configured_DKIM_key_that_is_missing()
    {
        var config = MtaProcess.WriteConfig(_data, extra: new Dictionary<string, object?>
        {
            ["Authentication"] = new { Signing = new { Domains = new Dictionary<string, object> { ["example.org"] = new { Selectors = new[] { new { Selector = "gone" } } } } } },
        });
        var (code, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, code);
        Assert.Contains("Authentication:Signing:Domains:example.org:Selectors:0", output);
    }

    [Fact]
    public async Task Bad_usage_exits_2_with_a_reason()
    {
        var (code, output) = await MtaProcess.RunToEndAsync("auth", "spf", "--ip", "not-an-ip", "--sender", "a@b.test", "--config", _config);
        Assert.Equal(2, code);
        Assert.Contains("--ip", output);
        (code, output) = await MtaProcess.RunToEndAsync("auth", "spf", "--ip", "192.0.2.1", "--sender", "a@b.test", "--dns", "nowhere", "--config", _config);
        Assert.Equal(2, code);
        Assert.Contains("--dns", output);
        (code, output) = await MtaProcess.RunToEndAsync("auth", "verify", Path.Combine(_data, "missing.eml"), "--dns", Dns, "--config", _config);
        Assert.Equal(2, code);
    }

    private void PublishSender()
    {
        _dns.AddTxt("sender.test", "v=spf1 ip4:127.0.0.1 -all");
        _dns.AddTxt("client.test", "v=spf1 ip4:127.0.0.1 -all");
        _dns.AddTxt("s1._domainkey.sender.test", AuthenticationFixture.PublicRecord(AuthenticationFixture.RsaKeys.Value.Public));
        _dns.AddTxt("_dmarc.sender.test", "v=DMARC1; p=reject");
    }
}
