// The passwd lookups behind local delivery: the system's database through libc, and a passwd file as the test seam.
using Mta.Engine.Delivery;

namespace Mta.Engine.Tests.Delivery;

public sealed class UnixAccountsTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void The_system_database_knows_root_by_name_and_by_uid()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("Unix accounts");
        var root = UnixAccounts.System.ByName("root");
        Assert.NotNull(root);
        Assert.Equal((0u, 0u), (root.Uid, root.Gid));
        Assert.StartsWith("/", root.Home, StringComparison.Ordinal);
        Assert.Equal("root", UnixAccounts.System.ByUid(0)?.Name);
        Assert.Null(UnixAccounts.System.ByName("no-such-user-" + Guid.NewGuid().ToString("N")[..8]));
        Assert.Equal(UnixAccounts.EffectiveUid == 0, UnixAccounts.System.RunsAsRoot);
    }

    [Fact]
    public void A_passwd_file_can_stand_in_for_the_database()
    {
        var file = Path.Combine(_dir.Path, "passwd");
        File.WriteAllLines(file, ["# comment", "carol:x:4242:4343:Carol:/home/carol:/bin/bash", "broken:x:notanumber:1::/:/bin/sh", "short:x:1"]);
        var accounts = new UnixAccounts(file, runsAsRoot: true);

        Assert.Equal(new UnixAccount("carol", 4242, 4343, "/home/carol", "/bin/bash"), accounts.ByName("carol"));
        Assert.Equal("carol", accounts.ByUid(4242)?.Name);
        Assert.Null(accounts.ByName("broken"));
        Assert.Null(accounts.ByName("short"));
        Assert.Null(accounts.ByName("root"));
        Assert.True(accounts.RunsAsRoot);
    }
}
