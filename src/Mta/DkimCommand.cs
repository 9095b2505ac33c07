// `mta dkim keygen|show|sign`: create DKIM keys, print the TXT records to publish, sign a message file.
using System.CommandLine;
using System.Globalization;
using System.Text;
using MimeKit;
using Mta.Abstractions;
using Mta.Configuration;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;

namespace Mta;

/// <summary>The <c>dkim</c> command. Exit codes: 0 done; 1 refused or failed (the key exists, no such domain or key, I/O
/// error); 2 bad usage or configuration (including a configured key file that cannot be used).</summary>
public static class DkimCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>Builds <c>mta dkim</c> with its three sub-commands, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        // Every operator tool takes --dns IP:PORT; none of these sub-commands looks anything up.
        Option<string?> DnsOption() => new("--dns") { Description = "DNS server IP:PORT (accepted for uniformity; unused: nothing here needs DNS)" };

        var keygenDomain = DomainArgument();
        var selector = new Option<string?>("--selector", "-s") { Description = "The selector (default: YYYYMM of today in UTC for rsa, YYYYMMed for ed25519, e.g. 202612)" };
        var algorithm = new Option<string?>("--algorithm", "-a") { Description = "rsa (rsa-sha256, the default) or ed25519 (ed25519-sha256, RFC 8463)" };
        var bits = new Option<string?>("--bits") { Description = $"RSA key size, {DkimKeyGenerator.MinimumRsaBits} to {DkimKeyGenerator.MaximumRsaBits} (default {DkimKeyGenerator.DefaultRsaBits})" };
        var force = new Option<bool>("--force") { Description = "Replace an existing key file (the old key stops working once the server restarts)" };
        var keygenDns = DnsOption();
        var keygen = new Command("keygen", "Generate a key into KeyDirectory/DOMAIN/SELECTOR.key (mode 0600) and print the DNS record to publish")
            { keygenDomain, selector, algorithm, bits, force, keygenDns, configOption };
        keygen.TreatUnmatchedTokensAsErrors = false;
        keygen.SetAction(parse => Run(parse, configOption, keygenDomain, (loaded, domain) =>
            Keygen(loaded, domain, parse.GetValue(selector), parse.GetValue(algorithm), parse.GetValue(bits), parse.GetValue(force))));

        var showDomain = DomainArgument();
        var showDns = DnsOption();
        var show = new Command("show", "Print the DNS record of each configured selector of DOMAIN, derived from its private key")
            { showDomain, showDns, configOption };
        show.TreatUnmatchedTokensAsErrors = false;
        show.SetAction(parse => Run(parse, configOption, showDomain, Show));

        var file = new Argument<string?>("FILE") { Description = "The message (RFC 5322), or - for standard input", Arity = ArgumentArity.ZeroOrOne };
        var signDomain = new Option<string?>("--domain", "-d") { Description = "The signing domain (default: the From: address's domain)" };
        var signDns = DnsOption();
        var sign = new Command("sign", "Print FILE with DKIM-Signature fields of the domain's signing selectors in front (CRLF line ends)")
            { file, signDomain, signDns, configOption };
        sign.TreatUnmatchedTokensAsErrors = false;
        sign.SetAction(parse => Run(parse, configOption, null, (loaded, _) =>
            string.IsNullOrEmpty(parse.GetValue(file)) ? Fail(Usage, "a FILE argument is required (- for standard input)")
                : Sign(loaded, parse.GetValue(file)!, parse.GetValue(signDomain))));

        return new Command("dkim", "DKIM keys: generate, show the DNS records, sign a message") { keygen, show, sign };
    }

    private static Argument<string?> DomainArgument() =>
        new("DOMAIN") { Description = "The signing domain (d=)", Arity = ArgumentArity.ZeroOrOne };

    private static int Run(ParseResult parse, Option<FileInfo?> configOption, Argument<string?>? domainArgument, Func<LoadedConfig, string, int> action)
    {
        if (parse.UnmatchedTokens.Count > 0)
            return Fail(Usage, $"unexpected argument(s): {string.Join(' ', parse.UnmatchedTokens)}");
        var domain = "";
        if (domainArgument is not null)
        {
            domain = parse.GetValue(domainArgument) ?? "";
            if (domain.Length == 0) return Fail(Usage, "a DOMAIN argument is required");
            if (!DkimSigningValidator.IsValidName(domain)) return Fail(Usage, $"'{domain}' is not a domain name");
            domain = DkimKeyStore.NormalizeDomain(domain);
        }
        try
        {
            return action(ConfigLoader.Load(parse.GetValue(configOption)?.FullName), domain);
        }
        catch (ConfigException ex)
        {
            return Fail(Usage, ex.Message);
        }
        catch (StartupException ex)
        {
            return Fail(Usage, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail(Failed, ex.Message);
        }
    }

    private static int Keygen(LoadedConfig loaded, string domain, string? selector, string? algorithmText, string? bitsText, bool force)
    {
        DkimKeyAlgorithm algorithm;
        switch (algorithmText?.ToLowerInvariant())
        {
            case null or "rsa": algorithm = DkimKeyAlgorithm.Rsa; break;
            case "ed25519": algorithm = DkimKeyAlgorithm.Ed25519; break;
            default: return Fail(Usage, $"--algorithm must be rsa or ed25519, not '{algorithmText}'");
        }
        var bits = DkimKeyGenerator.DefaultRsaBits;
        if (bitsText is not null)
        {
            if (algorithm != DkimKeyAlgorithm.Rsa) return Fail(Usage, "--bits applies to rsa keys only");
            if (!int.TryParse(bitsText, NumberStyles.None, CultureInfo.InvariantCulture, out bits)
                || bits < DkimKeyGenerator.MinimumRsaBits || bits > DkimKeyGenerator.MaximumRsaBits || bits % 8 != 0)
                return Fail(Usage, $"--bits must be a multiple of 8 from {DkimKeyGenerator.MinimumRsaBits} to {DkimKeyGenerator.MaximumRsaBits}, not '{bitsText}'");
        }
        // A month-stamped default lets the next rotation pick a new selector without thought (RFC 6376 3.1 suggests dates).
        selector ??= DateTime.UtcNow.ToString("yyyyMM", CultureInfo.InvariantCulture) + (algorithm == DkimKeyAlgorithm.Ed25519 ? "ed" : "");
        if (!DkimSigningValidator.IsValidName(selector) || selector.EndsWith('.'))
            return Fail(Usage, $"'{selector}' is not a selector (letters, digits, '-' and '.')");

        var signing = loaded.Options.Authentication.Signing;
        var paths = new MtaPaths(loaded.Options);
        var configured = signing.Domains.FirstOrDefault(d => Domain.NameComparer.Equals(d.Key, domain)).Value?
            .Selectors.FirstOrDefault(s => string.Equals(s.Selector, selector, StringComparison.OrdinalIgnoreCase));
        var path = configured is not null
            ? DkimKeyStore.ResolveKeyFile(signing, paths, domain, configured)
            : DkimKeyStore.DefaultKeyFile(DkimKeyStore.ResolveKeyDirectory(signing, paths), domain, selector);
        if (configured is not null && configured.Algorithm != algorithm)
            return Fail(Usage, $"selector '{selector}' of {domain} is configured as {configured.Algorithm}; use --algorithm {configured.Algorithm.ToString().ToLowerInvariant()} or another selector");
        if (File.Exists(path) && !force)
            return Fail(Failed, $"{path} already exists; choose another --selector, or --force to replace the key");

        var (_, record) = DkimKeyGenerator.GenerateToFile(path, algorithm, bits, overwrite: force,
            privateRoot: configured?.KeyFile is null ? DkimKeyStore.ResolveKeyDirectory(signing, paths) : null);
        var name = DkimDnsRecord.Name(selector, domain);
        var kind = algorithm == DkimKeyAlgorithm.Rsa ? $"rsa-{bits}" : "ed25519";
        Console.WriteLine($"Wrote the {kind} private key to {path} (mode 0600).");
        Console.WriteLine();
        Console.WriteLine($"Publish this TXT record at {name}:");
        Console.WriteLine(record);
        Console.WriteLine();
        Console.WriteLine("As a zone-file line:");
        Console.WriteLine(DkimDnsRecord.ZoneFileLine(selector, domain, record));
        Console.WriteLine();
        if (configured is not null)
        {
            Console.WriteLine($"Selector '{selector}' is already in {loaded.Source}; the server uses the new key when it next starts.");
        }
        else
        {
            Console.WriteLine($"Then add the selector to {loaded.Source} (mta does not edit it) and restart the server:");
            Console.WriteLine(ConfigSnippet(domain, selector, algorithm));
            Console.WriteLine("During a rotation keep the old selector with \"Sign\": false until its record is withdrawn.");
        }
        return Ok;
    }

    private static string ConfigSnippet(string domain, string selector, DkimKeyAlgorithm algorithm) =>
        $$"""
          "Authentication": { "Signing": { "Domains": { "{{domain}}": { "Selectors": [
            { "Selector": "{{selector}}", "Algorithm": "{{algorithm}}" }
          ] } } } }
        """;

    private static int Show(LoadedConfig loaded, string domain)
    {
        var store = new DkimKeyStore(loaded.Options, new MtaPaths(loaded.Options));
        var keys = store.AllKeys(domain).ToList();
        if (keys.Count == 0) return Fail(Failed, $"no DKIM selectors are configured for {domain} in {loaded.Source}");
        foreach (var key in keys)
        {
            var state = key.Sign ? "signing" : "not signing";
            Console.WriteLine($"{key.DnsName} ({key.Algorithm.ToString().ToLowerInvariant()}, {state}; key {key.KeyFile})");
            Console.WriteLine(key.PublicKeyRecord);
            Console.WriteLine(key.ZoneFileLine);
            Console.WriteLine();
        }
        return Ok;
    }

    private static int Sign(LoadedConfig loaded, string file, string? domain)
    {
        var message = ToCrlf(file == "-" ? ReadAll(Console.OpenStandardInput()) : File.ReadAllBytes(file));
        if (string.IsNullOrEmpty(domain))
        {
            domain = FromDomain(message);
            if (domain is null) return Fail(Usage, "the message has no single From: address to take the domain from; give --domain");
        }
        else if (!DkimSigningValidator.IsValidName(domain))
        {
            return Fail(Usage, $"'{domain}' is not a domain name");
        }
        var options = loaded.Options.Authentication.Signing;
        var store = new DkimKeyStore(loaded.Options, new MtaPaths(loaded.Options));
        if (!store.HasKey(domain)) return Fail(Failed, $"no signing DKIM selector is configured for {domain} in {loaded.Source}");
        if (!options.Enabled) return Fail(Failed, $"Authentication:Signing:Enabled is false in {loaded.Source}");
        var fields = new DkimMessageSigner(store, options, TimeProvider.System).CreateSignatureFields(domain, message);
        if (fields.Count == 0) return Fail(Failed, "the message's header section cannot be parsed; not signed");
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(Encoding.ASCII.GetBytes(string.Concat(fields)));
        stdout.Write(message);
        return Ok;
    }

    private static byte[] ReadAll(Stream stream)
    {
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    // A file on disk usually has LF line ends; the signature is made over, and printed with, CRLF as SMTP sends it.
    private static byte[] ToCrlf(byte[] message)
    {
        var output = new MemoryStream(message.Length + message.Length / 32);
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\n' && (i == 0 || message[i - 1] != (byte)'\r')) output.WriteByte((byte)'\r');
            output.WriteByte(message[i]);
        }
        return output.ToArray();
    }

    private static string? FromDomain(byte[] message)
    {
        try
        {
            var headers = HeaderList.Load(new MemoryStream(message));
            var from = headers[HeaderId.From];
            if (from is null || !InternetAddressList.TryParse(from, out var list)) return null;
            var mailboxes = list.Mailboxes.ToList();
            return mailboxes.Count == 1 && mailboxes[0].Address.Contains('@') ? mailboxes[0].Domain : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine(message);
        return code;
    }
}
