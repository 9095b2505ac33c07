// Who an alias's commands and files run as: the owner of the file that names them, as a passwd account.
namespace Mta.Engine.Delivery;

/// <summary>
/// The three lookups alias delivery needs, as functions so tests can stand in for the system: the owner uid of a file,
/// an account by uid and by name (the system's through <see cref="UnixAccounts"/>, so NSS sources count).
/// </summary>
internal sealed record AliasAccounts(Func<string, uint?> OwnerOf, Func<uint, UnixAccount?> ByUid, Func<string, UnixAccount?> ByName)
{
    /// <summary>The running system's.</summary>
    public static AliasAccounts System { get; } = new(path => Auth.FileOwner.Of(path)?.Uid, UnixAccounts.System.ByUid, UnixAccounts.System.ByName);

    /// <summary>
    /// The account a <c>|command</c> or <c>/file</c> from <paramref name="file"/> runs as: the file's owner, or
    /// <paramref name="defaultUser"/> when root owns it (Postfix's <c>default_privs</c>). Null with a reason when the
    /// account cannot be found.
    /// </summary>
    public (UnixAccount? Account, string? Problem) RunAsFor(string file, string defaultUser)
    {
        if (OwnerOf(file) is not { } owner) return (null, $"cannot find the owner of {file}");
        if (owner != 0)
            return ByUid(owner) is { } account ? (account, null) : (null, $"the owner of {file} (uid {owner}) has no passwd entry");
        return ByName(defaultUser) is { } fallback ? (fallback, null) : (null, $"Aliases:DefaultUser '{defaultUser}' has no passwd entry");
    }
}
