// Which header fields a DKIM signature or ARC-Message-Signature covers (h=), with over-signing.
using MimeKit;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Chooses <c>h=</c>. RFC 6376 5.4.1's recommended fields are signed as often as they occur; the fields whose
/// addition would change what a reader sees are over-signed: listed once more than they occur, which under RFC 6376 5.4.2
/// signs the absence of a further instance, so adding (not only changing) one breaks the signature. Over-signing a field the
/// message lacks signs its absence.</summary>
public static class SignedHeaderFields
{
    /// <summary>Signed once more than they occur (rspamd and OpenDKIM's OversignHeaders pick much the same set).</summary>
    public static readonly IReadOnlyList<string> OverSigned =
    [
        "from", "sender", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to", "references",
        "mime-version", "content-type", "content-transfer-encoding",
        "list-id", "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post", "list-owner", "list-archive",
    ];

    /// <summary>Signed as often as they occur, when they occur: a later resend legitimately adds its own.</summary>
    public static readonly IReadOnlyList<string> SignedWhenPresent =
    [
        "resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-message-id",
        "content-id", "content-description", "content-disposition",
    ];

    /// <summary>The <c>h=</c> list for <paramref name="message"/>, lower case, each name repeated as many times as it is to be
    /// signed; <c>from</c> is always first.</summary>
    public static string[] For(MimeMessage message)
    {
        var counts = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        IEnumerable<Header> all = message.Body is null ? message.Headers : message.Headers.Concat(message.Body.Headers);
        foreach (var header in all) counts[header.Field] = counts.GetValueOrDefault(header.Field) + 1;

        var fields = new List<string>();
        foreach (var name in OverSigned)
            for (var i = 0; i <= counts.GetValueOrDefault(name); i++) fields.Add(name);
        foreach (var name in SignedWhenPresent)
            for (var i = 0; i < counts.GetValueOrDefault(name); i++) fields.Add(name);
        return [.. fields];
    }
}
