// Mailboxes:HomeMaildir: Maildirs in the users' homes, created as the user when the server is root; unknown users bounce.
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;

namespace Mta.Engine.Tests.Delivery;

public sealed class HomeMaildirTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly string _home;
    private readonly string _passwd;

    public HomeMaildirTests()
    {
        _home = Path.Combine(_dir.Path, "home", "carol");
        Directory.CreateDirectory(_home);
        OpenTestFolder.ForEveryone(Path.Combine(_dir.Path, "home"));
        OpenTestFolder.ForEveryone(_dir.Path);
        _passwd = Path.Combine(_dir.Path, "passwd");
        // uid/gid 65534 (nobody's) so that, as root, the test can check the files are not root's.
        var uid = UnixAccounts.IsEffectiveRoot ? 65534u : UnixAccounts.EffectiveUid;
        File.WriteAllLines(_passwd, [$"carol:x:{uid}:{uid}:Carol:{_home}:/bin/sh", $"homeless:x:{uid}:{uid}::{Path.Combine(_dir.Path, "gone")}:/bin/sh"]);
        if (UnixAccounts.IsEffectiveRoot) MboxFileDeliveryTests.Chown(_home, new UnixAccount("carol", uid, uid, _home, "/bin/sh"));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private MaildirAgent Agent(string homeMaildir = "Maildir")
    {
        var options = new MtaOptions { DataDirectory = Path.Combine(_dir.Path, "data"), Mailboxes = { HomeMaildir = homeMaildir } };
        var delivery = new MaildirDelivery(new MtaPaths(options), new FakeTimeProvider(), options,
            new UnixAccounts(_passwd, UnixAccounts.IsEffectiveRoot));
        return new MaildirAgent(delivery, options, NullLogger<MaildirAgent>.Instance);
    }

    [Fact]
    public async Task Mail_lands_in_the_home_maildir_owned_by_the_user()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("home Maildirs are Unix only");
        var result = await Agent("Mail/inbox").DeliverAsync(new TestMessage("carol@example.org").To(RouteKind.Mailbox, "carol"), Ct);

        var outcome = Assert.Single(result.Recipients);
        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        var maildir = Path.Combine(_home, "Mail", "inbox");
        var file = Assert.Single(Directory.GetFiles(Path.Combine(maildir, "new")));
        Assert.EndsWith(TestMessage.Text, File.ReadAllText(file), StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir.Path, "data", "maildir", "carol")), "the shared root was used");
        Assert.Equal("600", MboxFileDeliveryTests.Stat(file, "%a"));
        foreach (var folder in new[] { Path.Combine(_home, "Mail"), maildir, Path.Combine(maildir, "new"), Path.Combine(maildir, "tmp"), Path.Combine(maildir, "cur") })
            Assert.Equal("700", MboxFileDeliveryTests.Stat(folder, "%a"));
        if (UnixAccounts.IsEffectiveRoot)
        {
            Assert.Equal("65534:65534", MboxFileDeliveryTests.Stat(file, "%u:%g"));
            Assert.Equal("65534:65534", MboxFileDeliveryTests.Stat(Path.Combine(_home, "Mail"), "%u:%g"));
            Assert.Equal("65534:65534", MboxFileDeliveryTests.Stat(Path.Combine(maildir, "new"), "%u:%g"));
        }
    }

    [Fact]
    public async Task As_root_a_symbolic_link_in_the_home_leads_nowhere_the_user_may_not_write()
    {
        if (!UnixAccounts.IsEffectiveRoot) Assert.Skip("needs root: the user's rights apply only when the server can take them");
        var elsewhere = Path.Combine(_dir.Path, "roots-folder");
        Directory.CreateDirectory(elsewhere);
        File.SetUnixFileMode(elsewhere, (UnixFileMode)0x1ED); // 0755, root's
        File.CreateSymbolicLink(Path.Combine(_home, "Maildir"), elsewhere);

        var outcome = Assert.Single((await Agent().DeliverAsync(new TestMessage("carol@example.org").To(RouteKind.Mailbox, "carol"), Ct)).Recipients);

        Assert.Equal(DeliveryStatus.Deferred, outcome.Status);
        Assert.Empty(Directory.GetFileSystemEntries(elsewhere));
    }

    [Fact]
    public async Task An_unknown_user_bounces_and_a_missing_home_defers_with_a_clear_detail()
    {
        if (OperatingSystem.IsWindows()) Assert.Skip("home Maildirs are Unix only");
        var agent = Agent();
        var unknown = Assert.Single((await agent.DeliverAsync(new TestMessage("dave@example.org").To(RouteKind.Mailbox, "dave"), Ct)).Recipients);
        Assert.Equal((DeliveryStatus.Failed, "5.1.1"), (unknown.Status, unknown.EnhancedStatus));

        var homeless = Assert.Single((await agent.DeliverAsync(new TestMessage("homeless@example.org").To(RouteKind.Mailbox, "homeless"), Ct)).Recipients);
        Assert.Equal(DeliveryStatus.Deferred, homeless.Status);
        Assert.Contains("home folder", homeless.Detail, StringComparison.Ordinal);
    }
}
