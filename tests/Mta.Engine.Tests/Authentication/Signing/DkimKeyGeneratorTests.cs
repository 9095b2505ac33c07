// DkimKeyGenerator and DkimDnsRecord: 0600 key files written whole, records and zone-file lines.
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Authentication.Signing;

public sealed class DkimKeyGeneratorTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "mta-keygen-" + Guid.NewGuid().ToString("n")[..12]);

    public void Dispose()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(DkimKeyAlgorithm.Rsa, "k=rsa")]
    [InlineData(DkimKeyAlgorithm.Ed25519, "k=ed25519")]
    public void A_generated_key_is_0600_in_a_0700_directory_and_reads_back(DkimKeyAlgorithm algorithm, string k)
    {
        var path = Path.Combine(_directory, "keys", "example.org", "s1.key");

        var (key, record) = DkimKeyGenerator.GenerateToFile(path, algorithm, privateRoot: Path.Combine(_directory, "keys"));

        Assert.StartsWith("v=DKIM1; " + k + "; p=", record);
        var pem = File.ReadAllText(path);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----\n", pem);
        Assert.Equal(record, DkimDnsRecord.PublicKeyRecord(DkimPrivateKeyPem.Read(pem)));
        Assert.Equal(record, DkimDnsRecord.PublicKeyRecord(key));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
            Assert.Equal(Private, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
            Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(_directory, "keys")));
        }
        Assert.Equal(["s1.key"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void An_existing_key_is_kept_unless_overwrite_is_asked()
    {
        var path = Path.Combine(_directory, "s1.key");
        DkimKeyGenerator.GenerateToFile(path, DkimKeyAlgorithm.Ed25519);
        var first = File.ReadAllText(path);

        Assert.Throws<IOException>(() => DkimKeyGenerator.GenerateToFile(path, DkimKeyAlgorithm.Ed25519));
        Assert.Equal(first, File.ReadAllText(path));

        DkimKeyGenerator.GenerateToFile(path, DkimKeyAlgorithm.Ed25519, overwrite: true);
        Assert.NotEqual(first, File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(_directory));
    }

    [Theory]
    [InlineData(512)]
    [InlineData(1000)]
    [InlineData(8192)]
    public void Rsa_sizes_outside_the_rfc_8301_range_are_refused(int bits) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => DkimKeyGenerator.Generate(DkimKeyAlgorithm.Rsa, bits));

    [Fact]
    public void An_ed25519_record_holds_32_bytes()
    {
        var record = DkimDnsRecord.PublicKeyRecord(DkimKeyGenerator.Generate(DkimKeyAlgorithm.Ed25519));
        Assert.Equal(32, Convert.FromBase64String(record["v=DKIM1; k=ed25519; p=".Length..]).Length);
    }

    [Theory]
    [InlineData(1024)]
    [InlineData(2048)]
    [InlineData(4096)]
    public void The_zone_file_line_splits_the_record_into_strings_of_at_most_255(int bits)
    {
        var record = DkimDnsRecord.PublicKeyRecord(DkimKeyGenerator.Generate(DkimKeyAlgorithm.Rsa, bits));

        var line = DkimDnsRecord.ZoneFileLine("s1", "Example.org.", record);

        Assert.StartsWith("s1._domainkey.example.org. IN TXT ( \"v=DKIM1; k=rsa; \" \"p=MI", line);
        Assert.EndsWith("\" )", line);
        var strings = System.Text.RegularExpressions.Regex.Matches(line, "\"([^\"]*)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.All(strings, s => Assert.InRange(s.Length, 1, 255));
        Assert.Equal(record, string.Concat(strings));
        // "v=DKIM1; k=rsa; ", then p= in as few strings as fit: 2 for 1024 bits, 3 for 2048, 4 for 4096.
        Assert.Equal(1 + (record.Length - "v=DKIM1; k=rsa; ".Length + 254) / 255, strings.Count);
        Assert.Equal(bits switch { 1024 => 2, 2048 => 3, _ => 4 }, strings.Count);
    }

    [Fact]
    public void The_dns_name_is_selector_domainkey_domain() =>
        Assert.Equal("202612._domainkey.example.org", DkimDnsRecord.Name("202612", "EXAMPLE.org."));
}
