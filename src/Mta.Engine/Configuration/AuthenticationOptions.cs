// The "Authentication" section: verification of incoming mail (SPF, DKIM, DMARC, ARC) and DKIM signing of outgoing mail.
namespace Mta.Engine.Configuration;

/// <summary>Mail authentication: what is checked on mail that arrives, what is done with the results, and which
/// domains' mail is DKIM-signed on the way out.</summary>
public sealed class AuthenticationOptions
{
    /// <summary>The authserv-id written in <c>Authentication-Results:</c> (RFC 8601 2.5); incoming fields that claim it
    /// are removed. Defaults to <see cref="MtaOptions.HostName"/>.</summary>
    public string? AuthServId { get; set; }

    /// <summary>Checks on mail from clients that are neither authenticated nor in a trusted network.</summary>
    public VerifyOptions Verify { get; set; } = new();

    /// <summary>What a DMARC failure does.</summary>
    public DmarcOptions Dmarc { get; set; } = new();

    /// <summary>DKIM signing of mail from authenticated clients and trusted networks.</summary>
    public DkimSigningOptions Signing { get; set; } = new();
}

/// <summary>Which checks run on incoming mail.</summary>
public sealed class VerifyOptions
{
    /// <summary>Verify incoming mail and add an <c>Authentication-Results:</c> field. Defaults to true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>SPF of the MAIL FROM and HELO identities (RFC 7208). Defaults to true.</summary>
    public bool Spf { get; set; } = true;

    /// <summary>DKIM signatures (RFC 6376, RFC 8463). Defaults to true.</summary>
    public bool Dkim { get; set; } = true;

    /// <summary>DMARC of the <c>From:</c> domain (RFC 7489); needs <see cref="Spf"/> and <see cref="Dkim"/>. Defaults to true.</summary>
    public bool Dmarc { get; set; } = true;

    /// <summary>ARC chain validation (RFC 8617). Defaults to true.</summary>
    public bool Arc { get; set; } = true;

    /// <summary>Most DKIM-Signature fields verified per message; the rest are not looked at (RFC 6376 6.1 lets a verifier
    /// limit them). Defaults to 5.</summary>
    public int MaxSignatures { get; set; } = 5;

    /// <summary>RSA keys shorter than this verify as <c>policy</c>, not <c>pass</c> (RFC 8301 3.2 requires 1024). Defaults to 1024.</summary>
    public int MinimumRsaKeyBits { get; set; } = 1024;

    /// <summary>How long all checks of one message may take together before the unfinished ones are <c>temperror</c>.
    /// Defaults to 20 s (RFC 7208 4.6.4 suggests at least 20 s for SPF).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(20);
}

/// <summary>DMARC policy action.</summary>
public sealed class DmarcOptions
{
    /// <summary>Act on the domain owner's policy: <c>p=reject</c> gets <c>550 5.7.1</c> at the end of DATA and
    /// <c>p=quarantine</c> is quarantined as <see cref="Quarantine"/> says. Defaults to false: the result is only
    /// recorded (in <c>Authentication-Results:</c> and for hooks).</summary>
    public bool Enforce { get; set; }

    /// <summary>How a quarantined message is marked: <c>Header</c> (an <c>X-Mta-Quarantine: dmarc</c> field for Maildir
    /// filters) or <c>Junk</c> (that field, and local delivery into the mailbox's <c>.Junk</c> Maildir folder). Defaults to <c>Junk</c>.</summary>
    public DmarcQuarantine Quarantine { get; set; } = DmarcQuarantine.Junk;

    /// <summary>The Public Suffix List used to find organisational domains. Defaults to Debian's
    /// <c>/usr/share/publicsuffix/public_suffix_list.dat</c> when present, else the copy shipped with Mta.</summary>
    public string? PublicSuffixList { get; set; }
}

/// <summary>How a DMARC quarantine is carried out.</summary>
public enum DmarcQuarantine
{
    /// <summary>Only add the quarantine header field.</summary>
    Header,
    /// <summary>Add the header field and deliver local copies into the <c>.Junk</c> folder.</summary>
    Junk,
}

/// <summary>DKIM signing (RFC 6376, RFC 8463).</summary>
public sealed class DkimSigningOptions
{
    /// <summary>Sign mail from authenticated clients and trusted networks whose <c>From:</c> domain has a key, and mail
    /// plugins submit. Defaults to true (nothing is signed until a domain has a key).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where <c>mta dkim keygen</c> writes keys (<c>DIR/DOMAIN/SELECTOR.key</c>, mode 0600) and where a selector
    /// without <see cref="DkimSelectorOptions.KeyFile"/> is looked for. Relative to <see cref="MtaOptions.DataDirectory"/>.
    /// Defaults to <c>dkim</c>.</summary>
    public string KeyDirectory { get; set; } = "dkim";

    /// <summary>Signing domains and their selectors, keyed as <see cref="Abstractions.Domain"/> compares (no case, no
    /// trailing dot). Defaults to none.</summary>
    public Dictionary<string, DkimDomainOptions> Domains { get; set; } = new(Abstractions.Domain.NameComparer);

    /// <summary>Header and body canonicalization, <c>relaxed/relaxed</c> (the default), <c>relaxed/simple</c>,
    /// <c>simple/relaxed</c> or <c>simple/simple</c>.</summary>
    public string Canonicalization { get; set; } = "relaxed/relaxed";

    /// <summary>How long a signature is valid (<c>x=</c>); null (the default) sets no expiry.</summary>
    public TimeSpan? Expiration { get; set; }
}

/// <summary>One signing domain.</summary>
public sealed class DkimDomainOptions
{
    /// <summary>The domain's selectors. Those with <see cref="DkimSelectorOptions.Sign"/> sign (one rsa and one ed25519
    /// selector may both sign: two signatures); the others are kept only so <c>mta dkim show</c> prints their records
    /// while a rotation is in progress.</summary>
    public List<DkimSelectorOptions> Selectors { get; set; } = [];
}

/// <summary>One DKIM key.</summary>
public sealed class DkimSelectorOptions
{
    /// <summary>The selector (<c>s=</c>): the key is published at <c>SELECTOR._domainkey.DOMAIN</c>. Required.</summary>
    public string Selector { get; set; } = "";

    /// <summary><c>Rsa</c> (rsa-sha256) or <c>Ed25519</c> (ed25519-sha256, RFC 8463). Defaults to <c>Rsa</c>.</summary>
    public DkimKeyAlgorithm Algorithm { get; set; } = DkimKeyAlgorithm.Rsa;

    /// <summary>The PEM private key file. Defaults to <c>KeyDirectory/DOMAIN/SELECTOR.key</c>.</summary>
    /// <remarks>A relative path is relative to <see cref="MtaOptions.DataDirectory"/>. RSA keys may be PKCS#1 or PKCS#8 PEM,
    /// Ed25519 keys PKCS#8 PEM; the file must not be readable by other users (start-up fails) and should be 0600.</remarks>
    public string? KeyFile { get; set; }

    /// <summary>Whether this selector signs. Defaults to true.</summary>
    public bool Sign { get; set; } = true;
}

/// <summary>A DKIM key's algorithm.</summary>
public enum DkimKeyAlgorithm
{
    /// <summary>rsa-sha256.</summary>
    Rsa,
    /// <summary>ed25519-sha256 (RFC 8463).</summary>
    Ed25519,
}
