// Login names and uids of local accounts (the passwd database through UnixAccounts, so NSS sources such as LDAP count).
using Mta.Engine.Delivery;

namespace Mta.Engine.Terminal;

/// <summary>Login names of local uids (a control-socket peer, a maildrop file's owner) and uids of login names.</summary>
internal static class UnixUsers
{
    /// <summary>The login name of <paramref name="uid"/>, or null when the system knows none.</summary>
    internal static string? NameOf(uint uid) => UnixAccounts.System.ByUid(uid)?.Name is { Length: > 0 } name ? name : null;

    /// <summary>The uid of the login name <paramref name="name"/>, or null when the system knows none.</summary>
    internal static uint? UidOf(string name) => UnixAccounts.System.ByName(name)?.Uid;
}
