// DkimKeyStore: PEM formats, look-ups, and the start-up failures that name the key's configuration path.
using System.Diagnostics;
using System.Security.Cryptography;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class DkimKeyStoreTests : IDisposable
{
    private readonly SigningFixture _fixture = new();

    public void Dispose() => _fixture.Dispose();

    private const string KeyPath0 = "Authentication:Signing:Domains:example.org:Selectors:0:KeyFile";

    private string WriteKeyFile(string name, string pem, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_fixture.DataDirectory, name);
        File.WriteAllText(path, pem);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    private void ConfigureFile(string name, DkimKeyAlgorithm algorithm) =>
        _fixture.Configure("example.org", new DkimSelectorOptions { Selector = "s1", Algorithm = algorithm, KeyFile = name });

    [Fact]
    public void Rsa_keys_load_from_pkcs1_and_pkcs8_pem_and_give_the_same_record()
    {
        using var rsa = RSA.Create(2048);
        WriteKeyFile("pkcs1.pem", rsa.ExportRSAPrivateKeyPem());
        WriteKeyFile("pkcs8.pem", rsa.ExportPkcs8PrivateKeyPem());
        _fixture.Configure("example.org", new DkimSelectorOptions { Selector = "one", KeyFile = "pkcs1.pem" });
        _fixture.Configure("example.org", new DkimSelectorOptions { Selector = "two", KeyFile = "pkcs8.pem" });

        var keys = _fixture.Store().AllKeys("example.org").ToList();

        Assert.Equal(2, keys.Count);
        var expected = "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo());
        Assert.All(keys, k => Assert.Equal(expected, k.PublicKeyRecord));
        Assert.Equal(Path.Combine(_fixture.DataDirectory, "pkcs1.pem"), keys[0].KeyFile);
    }

    [Fact]
    public void An_openssl_ed25519_key_loads_and_its_record_holds_the_raw_public_key()
    {
        var path = Path.Combine(_fixture.DataDirectory, "ed.pem");
        if (!Run("openssl", "genpkey", "-algorithm", "ed25519", "-out", path)) Assert.Skip("openssl is not installed");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(path));
        var publicDer = Path.Combine(_fixture.DataDirectory, "ed.pub");
        Assert.True(Run("openssl", "pkey", "-in", path, "-pubout", "-outform", "DER", "-out", publicDer));
        ConfigureFile("ed.pem", DkimKeyAlgorithm.Ed25519);

        var key = Assert.Single(_fixture.Store().AllKeys("example.org"));

        // RFC 8463 4: p= is the bare 32-byte key, not a SubjectPublicKeyInfo (whose last 32 bytes it is).
        Assert.Equal("v=DKIM1; k=ed25519; p=" + Convert.ToBase64String(File.ReadAllBytes(publicDer)[^32..]), key.PublicKeyRecord);
    }

    [Fact]
    public void Look_ups_ignore_case_and_a_trailing_dot()
    {
        _fixture.AddKey("Example.ORG", "s1", DkimKeyAlgorithm.Ed25519);
        _fixture.AddKey("Example.ORG", "s0", DkimKeyAlgorithm.Ed25519, sign: false);
        var store = _fixture.Store();

        Assert.True(store.HasKey("example.org."));
        var key = Assert.Single(store.SigningKeysFor("EXAMPLE.org"));
        Assert.Equal("example.org", key.Domain);
        Assert.Equal("s1._domainkey.example.org", key.DnsName);
        Assert.Equal(2, store.AllKeys("example.org").Count());
        Assert.False(store.HasKey("example.com"));
        Assert.Empty(store.SigningKeysFor("example.com"));
        Assert.Empty(store.AllKeys("example.com"));
    }

    [Fact]
    public void A_missing_key_file_stops_startup_naming_the_key()
    {
        _fixture.Configure("example.org", new DkimSelectorOptions { Selector = "s1" });
        var ex = Assert.Throws<StartupException>(() => _fixture.Store());
        Assert.StartsWith(KeyPath0 + ": " + Path.Combine(_fixture.DataDirectory, "dkim", "example.org", "s1.key"), ex.Message);
        Assert.Contains("does not exist", ex.Message);
    }

    public static TheoryData<string, string> BadKeys => new()
    {
        { "not a key", "no PEM private key" },
        { "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "not a PEM private key" },
        { "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted" },
        { "", "no PEM private key" },
    };

    [Theory]
    [MemberData(nameof(BadKeys))]
    public void An_unusable_key_file_stops_startup_naming_the_key(string content, string why)
    {
        WriteKeyFile("bad.pem", content);
        ConfigureFile("bad.pem", DkimKeyAlgorithm.Rsa);
        var ex = Assert.Throws<StartupException>(() => _fixture.Store());
        Assert.StartsWith(KeyPath0 + ": ", ex.Message);
        Assert.Contains(why, ex.Message);
    }

    [Fact]
    public void A_key_of_the_other_algorithm_stops_startup()
    {
        WriteKeyFile("ed.pem", DkimPrivateKeyPem.Write(DkimKeyGenerator.Generate(DkimKeyAlgorithm.Ed25519)));
        ConfigureFile("ed.pem", DkimKeyAlgorithm.Rsa);
        var ex = Assert.Throws<StartupException>(() => _fixture.Store());
        Assert.StartsWith(KeyPath0 + ": ", ex.Message);
        Assert.Contains("the key is Ed25519 but the selector's Algorithm is Rsa", ex.Message);
    }

    [Fact]
    public void A_short_rsa_key_stops_startup()
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new RsaKeyGenerationParameters(Org.BouncyCastle.Math.BigInteger.ValueOf(65537), new SecureRandom(), 512, 25));
        WriteKeyFile("short.pem", DkimPrivateKeyPem.Write(generator.GenerateKeyPair().Private));
        ConfigureFile("short.pem", DkimKeyAlgorithm.Rsa);
        var ex = Assert.Throws<StartupException>(() => _fixture.Store());
        Assert.Contains("512 bits", ex.Message);
    }

    [Fact]
    public void A_key_other_users_can_read_stops_startup_and_a_group_readable_one_loads()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("Unix file modes");
        var pem = DkimPrivateKeyPem.Write(DkimKeyGenerator.Generate(DkimKeyAlgorithm.Ed25519));
        WriteKeyFile("open.pem", pem, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        ConfigureFile("open.pem", DkimKeyAlgorithm.Ed25519);
        var ex = Assert.Throws<StartupException>(() => _fixture.Store());
        Assert.StartsWith(KeyPath0 + ": ", ex.Message);
        Assert.Contains("mode 0644", ex.Message);

        File.SetUnixFileMode(Path.Combine(_fixture.DataDirectory, "open.pem"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Assert.Single(_fixture.Store().AllKeys("example.org"));
    }

    private static bool Run(string file, params string[] args)
    {
        try
        {
            var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.WaitForExit(30_000);
            return p.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
