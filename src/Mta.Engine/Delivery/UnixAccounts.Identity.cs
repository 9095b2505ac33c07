// File operations done with an account's rights: Linux's per-thread filesystem uid and gid (setfsuid, setfsgid).
using System.Runtime.InteropServices;

namespace Mta.Engine.Delivery;

public sealed partial class UnixAccounts
{
    /// <summary>
    /// Runs <paramref name="operation"/> (synchronous file-system calls only: no await inside) with the filesystem uid and
    /// gid of <paramref name="account"/> when this server runs as root, so whatever it creates belongs to the account and
    /// every permission check (symbolic links followed into other users' folders included) is the account's, not root's:
    /// the kernel drops the file capabilities while the filesystem uid is not 0. Both ids are per thread on Linux (glibc
    /// does not broadcast them to other threads) and are restored before returning. Not root, or no account: runs as is.
    /// The thread's supplementary groups stay the server's (root's are normally just group 0).
    /// </summary>
    public T AsAccount<T>(UnixAccount? account, Func<T> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (!RunsAsRoot || account is null || account.Uid == 0 || !IsEffectiveRoot || !OperatingSystem.IsLinux()) return operation();
        var previousGid = setfsgid(account.Gid);
        var previousUid = setfsuid(account.Uid);
        try
        {
            // setfsuid reports nothing on failure: ask for the current value (an impossible id changes nothing).
            if (setfsuid(uint.MaxValue) != account.Uid || setfsgid(uint.MaxValue) != account.Gid)
                throw new UnauthorizedAccessException($"cannot take the file-system identity of {account.Name} (uid {account.Uid})");
            return operation();
        }
        finally
        {
            setfsuid(previousUid);
            setfsgid(previousGid);
        }
    }

    [DllImport("libc")]
    private static extern uint setfsuid(uint fsuid);

    [DllImport("libc")]
    private static extern uint setfsgid(uint fsgid);
}
