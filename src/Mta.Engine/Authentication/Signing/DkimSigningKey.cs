// One loaded DKIM private key: the domain and selector it signs for and the TXT record that publishes it.
using Mta.Engine.Configuration;
using Org.BouncyCastle.Crypto;

namespace Mta.Engine.Authentication.Signing;

/// <summary>A DKIM key loaded from its PEM file.</summary>
/// <param name="Domain">The signing domain (<c>d=</c>), lower case, without a trailing dot.</param>
/// <param name="Selector">The selector (<c>s=</c>).</param>
/// <param name="Algorithm">rsa-sha256 or ed25519-sha256.</param>
/// <param name="PrivateKey">The private key.</param>
/// <param name="PublicKeyRecord">The TXT record text to publish at <see cref="DnsName"/>: <c>v=DKIM1; k=rsa; p=...</c>.</param>
/// <param name="Sign">Whether this selector signs (false: kept only so its record can be shown during a rotation).</param>
/// <param name="KeyFile">The full path of the PEM file it was read from.</param>
public sealed record DkimSigningKey(
    string Domain,
    string Selector,
    DkimKeyAlgorithm Algorithm,
    AsymmetricKeyParameter PrivateKey,
    string PublicKeyRecord,
    bool Sign,
    string KeyFile)
{
    /// <summary><c>SELECTOR._domainkey.DOMAIN</c>, where the record is published.</summary>
    public string DnsName => DkimDnsRecord.Name(Selector, Domain);

    /// <summary>The record as one zone-file line (strings of at most 255 characters).</summary>
    public string ZoneFileLine => DkimDnsRecord.ZoneFileLine(Selector, Domain, PublicKeyRecord);
}
