// The configured DKIM keys (Authentication:Signing:Domains), all loaded and checked once at start-up.
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto.Parameters;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Every configured selector's private key, read when the store is built. A key that is missing, unreadable, of
/// the wrong algorithm, too short, or readable or writable by other users stops start-up with a
/// <see cref="StartupException"/> naming its configuration key; a group-readable key is logged as a warning (a
/// <c>root:mta 0640</c> key is a common, deliberate set-up).</summary>
public sealed partial class DkimKeyStore
{
    private readonly Dictionary<Domain, IReadOnlyList<DkimSigningKey>> _byDomain = [];

    public DkimKeyStore(MtaOptions options, MtaPaths paths, ILogger<DkimKeyStore>? logger = null)
    {
        var log = logger ?? (ILogger)NullLogger.Instance;
        var signing = options.Authentication.Signing;
        KeyDirectory = ResolveKeyDirectory(signing, paths);
        foreach (var (configuredDomain, domainOptions) in signing.Domains)
        {
            var domain = Domain.TryParse(configuredDomain, out var parsed)
                ? parsed.Name
                : throw new StartupException($"Authentication:Signing:Domains:{configuredDomain}: is not a domain name");
            var keys = new List<DkimSigningKey>();
            for (var i = 0; i < domainOptions.Selectors.Count; i++)
            {
                var selector = domainOptions.Selectors[i];
                var configKey = $"Authentication:Signing:Domains:{configuredDomain}:Selectors:{i}:KeyFile";
                var path = ResolveKeyFile(signing, paths, domain, selector);
                keys.Add(Load(domain, selector, path, configKey, log));
            }
            _byDomain[parsed] = keys;
        }
    }

    /// <summary>The full path of <c>Authentication:Signing:KeyDirectory</c>.</summary>
    public string KeyDirectory { get; }

    /// <summary>The domains that have at least one configured selector.</summary>
    public IEnumerable<string> Domains => _byDomain.Keys.Select(d => d.Name);

    /// <summary>The keys that sign for <paramref name="domain"/> (selectors with <c>Sign</c>), in configuration order; empty
    /// when none. The domain is compared without case and without a trailing dot.</summary>
    public IReadOnlyList<DkimSigningKey> SigningKeysFor(string domain) =>
        Domain.TryParse(domain, out var parsed) && _byDomain.TryGetValue(parsed, out var keys) ? [.. keys.Where(k => k.Sign)] : [];

    /// <summary>Whether <paramref name="domain"/> has a key that signs.</summary>
    public bool HasKey(string domain) => SigningKeysFor(domain).Count > 0;

    /// <summary>Every configured key of <paramref name="domain"/>, signing or not.</summary>
    public IEnumerable<DkimSigningKey> AllKeys(string domain) =>
        Domain.TryParse(domain, out var parsed) && _byDomain.TryGetValue(parsed, out var keys) ? keys : [];

    /// <summary>Lower case, no trailing dot (<see cref="Domain"/>'s form): how signing domains are written in <c>d=</c>
    /// and named on disk. Throws <see cref="FormatException"/> for a name that is not a domain; configured and
    /// command-line names are checked before they get here.</summary>
    public static string NormalizeDomain(string domain) => Domain.Parse(domain).Name;

    /// <summary>The full path of the key directory: <c>KeyDirectory</c> relative to the data directory.</summary>
    public static string ResolveKeyDirectory(DkimSigningOptions signing, MtaPaths paths) =>
        paths.ResolveInData(signing.KeyDirectory);

    /// <summary>A selector's key file: its <c>KeyFile</c> (relative to the data directory), else
    /// <c>KeyDirectory/DOMAIN/SELECTOR.key</c>.</summary>
    public static string ResolveKeyFile(DkimSigningOptions signing, MtaPaths paths, string domain, DkimSelectorOptions selector) =>
        string.IsNullOrEmpty(selector.KeyFile)
            ? DefaultKeyFile(ResolveKeyDirectory(signing, paths), domain, selector.Selector)
            : paths.ResolveInData(selector.KeyFile);

    /// <summary><c>KEYDIRECTORY/DOMAIN/SELECTOR.key</c>.</summary>
    public static string DefaultKeyFile(string keyDirectory, string domain, string selector) =>
        Path.Combine(keyDirectory, NormalizeDomain(domain), selector + ".key");

    private static DkimSigningKey Load(string domain, DkimSelectorOptions selector, string path, string configKey, ILogger log)
    {
        StartupException Fail(string why, Exception? inner = null) => new($"{configKey}: {path}: {why}", inner);

        if (!File.Exists(path)) throw Fail("the DKIM key file does not exist (create it with `mta dkim keygen`)");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.GroupWrite)) != 0)
                throw Fail($"the DKIM private key is readable or writable by other users (mode {Octal(mode)}); chmod 600 it");
            if ((mode & UnixFileMode.GroupRead) != 0) LogGroupReadable(log, path, Octal(mode));
        }

        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Fail("cannot read the DKIM key file: " + ex.Message, ex);
        }
        Org.BouncyCastle.Crypto.AsymmetricKeyParameter key;
        try
        {
            key = DkimPrivateKeyPem.Read(pem);
        }
        catch (FormatException ex)
        {
            throw Fail(ex.Message, ex);
        }
        var actual = DkimDnsRecord.AlgorithmOf(key);
        if (actual is null) throw Fail("the key is neither RSA nor Ed25519");
        if (actual != selector.Algorithm)
            throw Fail($"the key is {actual} but the selector's Algorithm is {selector.Algorithm}");
        if (key is RsaKeyParameters rsa && rsa.Modulus.BitLength < DkimKeyGenerator.MinimumRsaBits)
            throw Fail($"the RSA key has {rsa.Modulus.BitLength} bits; RFC 8301 requires at least {DkimKeyGenerator.MinimumRsaBits}");

        return new DkimSigningKey(domain, selector.Selector, selector.Algorithm, key, DkimDnsRecord.PublicKeyRecord(key), selector.Sign, path);
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');

    [LoggerMessage(EventId = LogEvents.Authentication.DkimKeyGroupReadable, Level = LogLevel.Warning, Message = "DKIM key {Path} is readable by its group (mode {Mode}); 0600 is safer")]
    private static partial void LogGroupReadable(ILogger logger, string path, string mode);
}
