// Where local mailboxes are handed to an LMTP server (Dovecot, Cyrus) instead of Mta's own Maildirs: "Mailboxes:Lmtp".
namespace Mta.Engine.Configuration;

/// <summary>
/// LMTP delivery of local mailboxes (<c>Mailboxes:Lmtp</c>, RFC 2033), as Postfix's <c>mailbox_transport = lmtp:...</c>.
/// When <see cref="Endpoint"/> is set, every mailbox route (a local user) goes to that LMTP server rather than into
/// <see cref="MailboxOptions.Root"/>: the server's own store then holds the mail, with its quotas and filters.
/// </summary>
public sealed class LmtpOptions
{
    /// <summary>The LMTP server: <c>unix:/path/to/socket</c> (e.g. Dovecot's <c>unix:/run/dovecot/lmtp</c>) or
    /// <c>host:port</c> with an IP address (e.g. <c>127.0.0.1:24</c>, <c>[::1]:24</c>). Defaults to empty: off, local mail
    /// goes into Mta's Maildirs.</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>True when local mail goes over LMTP.</summary>
    internal bool Enabled => !string.IsNullOrWhiteSpace(Endpoint);

    /// <summary>The Unix socket path of a <c>unix:</c> endpoint, else null.</summary>
    internal string? SocketPath => Endpoint.StartsWith("unix:", StringComparison.Ordinal) ? Endpoint["unix:".Length..] : null;

    /// <summary>Parses a TCP endpoint (<c>address:port</c>); false when it is not one.</summary>
    internal bool TryGetTcpEndpoint(out System.Net.IPEndPoint endPoint) =>
        System.Net.IPEndPoint.TryParse(Endpoint, out endPoint!) && endPoint.Port is > 0 and <= 65535
        && Endpoint.LastIndexOf(':') > Endpoint.LastIndexOf(']');
}
