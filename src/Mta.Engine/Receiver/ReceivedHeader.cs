// Builds the Received trace field (RFC 5321 4.4) that heads every accepted message.
using System.Text;
using MimeKit.Utils;
using Mta.Abstractions;

namespace Mta.Engine.Receiver;

internal static class ReceivedHeader
{
    /// <summary>The "with" protocol name per RFC 3848 (ESMTPS, ESMTPA, UTF8SMTP...).</summary>
    public static string Protocol(bool extended, bool tls, bool authenticated, bool utf8)
    {
        if (!extended) return "SMTP";
        var name = utf8 ? "UTF8SMTP" : "ESMTP";
        if (tls) name += "S";
        if (authenticated) name += "A";
        return name;
    }

    /// <param name="clientName">The client's host name when known (XCLIENT NAME), written before its address as Postfix does.</param>
    /// <param name="showUser">Name the AUTH user in a comment (Auth:ReceivedHeaderShowsUser).</param>
    /// <param name="node">The node that took the message, written when it says more than <paramref name="hostName"/> does
    /// (several nodes behind one MX share a host name): <see cref="ProductComment"/>.</param>
    public static string Build(ISessionInfo session, string hostName, string queueId, bool utf8, IReadOnlyList<EnvelopeRecipient> recipients, DateTimeOffset now,
        string? clientName = null, bool showUser = false, string? node = null)
    {
        var sb = new StringBuilder(256);
        var ip = ClientAddress.Canonical(session.RemoteEndPoint.Address);
        var literal = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "IPv6:" + ip : ip.ToString();
        sb.Append("Received: from ").Append(Sanitize(session.HeloName ?? "unknown"))
          .Append(" (").Append(clientName is null ? "" : Sanitize(clientName) + " ").Append('[').Append(literal).Append("])\r\n");
        sb.Append("\tby ").Append(hostName).Append(" (").Append(ProductComment(hostName, node)).Append(") with ")
          .Append(Protocol(session.IsExtended, session.Tls is not null, session.AuthenticatedUser is not null, utf8))
          .Append(" id ").Append(queueId);
        if (showUser && session.AuthenticatedUser is { } user)
            sb.Append("\r\n\t(authenticated as ").Append(Sanitize(user)).Append(')');
        if (session.Tls is { } tls)
            sb.Append("\r\n\t(using ").Append(tls.Protocol).Append(" with cipher ").Append(tls.Cipher).Append(')');
        // One recipient only: naming more would disclose the Bcc list to every recipient.
        if (recipients.Count == 1)
            sb.Append("\r\n\tfor ").Append(recipients[0].Address.ToPathString());
        sb.Append("; ").Append(DateUtils.FormatDate(now)).Append("\r\n");
        return sb.ToString();
    }

    /// <summary><c>Mta</c>, or <c>Mta node NAME</c> when the node's name is not the first label of the host name: the
    /// comment after "by HOST" that tells which node of a cluster took a message.</summary>
    public static string ProductComment(string hostName, string? node)
    {
        if (string.IsNullOrEmpty(node)) return "Mta";
        var dot = hostName.IndexOf('.', StringComparison.Ordinal);
        var firstLabel = dot > 0 ? hostName.AsSpan(0, dot) : hostName.AsSpan();
        return firstLabel.Equals(node, StringComparison.OrdinalIgnoreCase) ? "Mta" : "Mta node " + node;
    }

    // The HELO argument is client-controlled: keep it on one line of printable characters.
    private static string Sanitize(string s)
    {
        Span<char> buffer = s.Length <= 256 ? stackalloc char[s.Length] : new char[s.Length];
        for (var i = 0; i < s.Length; i++)
            buffer[i] = s[i] is < ' ' or '\x7f' or '(' or ')' ? '?' : s[i];
        return new string(buffer);
    }
}
