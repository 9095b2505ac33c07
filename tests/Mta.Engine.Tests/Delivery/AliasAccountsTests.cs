// Who alias commands and files run as, against this system's passwd database: the file's owner, or the default user for root.
using Mta.Engine.Delivery;

namespace Mta.Engine.Tests.Delivery;

public sealed class AliasAccountsTests
{
    [Fact]
    public void The_owner_of_a_file_and_the_accounts_are_found_in_the_system_passwd_database()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "passwd and statx are Unix");
        using var dir = new TestDirectory();
        var path = Path.Combine(dir.Path, "aliases");
        File.WriteAllText(path, "a: b\n");
        var accounts = AliasAccounts.System;

        var owner = accounts.OwnerOf(path);
        Assert.NotNull(owner);
        var me = accounts.ByUid(owner.Value);
        Assert.NotNull(me);
        Assert.Equal(Environment.UserName, me.Name);
        Assert.Equal(me, accounts.ByName(me.Name));
        var root = accounts.ByUid(0);
        Assert.Equal(("root", 0u, 0u), (root?.Name, root?.Uid, root?.Gid));
        Assert.Null(accounts.ByName("no-such-account-7f3a"));
        Assert.Null(accounts.OwnerOf(Path.Combine(dir.Path, "missing")));

        // A root-owned file's targets run as the default user; anyone else's as its owner.
        var (runAs, problem) = accounts.RunAsFor(path, "root");
        Assert.Null(problem);
        Assert.Equal(owner == 0 ? "root" : me.Name, runAs?.Name);
        Assert.NotNull(accounts.RunAsFor("/etc/passwd", "no-such-account-7f3a").Problem);
    }
}
