// Canonical rewriting of envelope and header addresses (Postfix's sender_canonical_maps and recipient_canonical_maps).
namespace Mta.Engine.Configuration;

/// <summary>
/// Canonical address rewriting (<c>Canonical</c>), as Postfix's canonical(5): files of <c>user@domain new@address</c>,
/// <c>@domain @newdomain</c> and <c>user new</c> (local domains only) lines, applied when a message is received: the
/// sender map to MAIL FROM, the recipient map to each RCPT TO (before virtual aliases), and for mail from trusted or
/// authenticated clients to the header fields too (From, Sender, Reply-To; To, Cc).
/// </summary>
public sealed class CanonicalOptions
{
    /// <summary>Maps for sender addresses, searched in order (first match wins). Defaults to none.</summary>
    public List<string> SenderFiles { get; set; } = [];

    /// <summary>Maps for recipient addresses, searched in order (first match wins). Defaults to none.</summary>
    public List<string> RecipientFiles { get; set; } = [];

    /// <summary>Rewrite the header fields (From, Sender, Reply-To with the sender maps, To and Cc with the recipient maps)
    /// of mail from trusted or authenticated clients as well as its envelope. Defaults to true; mail from other clients
    /// keeps its header as sent, as Postfix's <c>local_header_rewrite_clients</c> leaves remote mail alone (a rewrite
    /// would break their DKIM signatures).</summary>
    public bool RewriteHeaders { get; set; } = true;
}
