// Lists kept as files (one per list, one member per line) are picked up, changed and removed while running.
using Mta.Abstractions;
using Mta.MailingLists.Tests.Infrastructure;
using static Mta.MailingLists.Tests.Infrastructure.PluginHarness;

namespace Mta.MailingLists.Tests;

public sealed class ListFileTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "mta-lists-" + Guid.NewGuid().ToString("n")[..12]);

    public ListFileTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private PluginHarness Plugin(params (string, string?)[] extra)
    {
        var settings = new Dictionary<string, string?> { ["Directory"] = _dir, ["RescanInterval"] = "00:00:00", ["AllowExpn"] = "true" };
        foreach (var (k, v) in extra) settings[k] = v;
        return new PluginHarness(settings);
    }

    /// <summary>Writes a list file and moves its time forward, so a change is seen even on a coarse-clock file system.</summary>
    private void Write(string name, string content, int secondsLater = 0)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(secondsLater));
    }

    private static async Task<string[]> Expand(PluginHarness plugin, string list)
    {
        var message = Message("sender@remote.test", [list], SampleMessage, "Q" + plugin.Queue.Submissions.Count);
        var before = plugin.Queue.Submissions.Count;
        var outcome = await plugin.DeliverAsync(message, message.Recipients[0]);
        Assert.Equal(DeliveryStatus.Delivered, outcome!.Status);
        return plugin.Queue.Submissions.Count == before ? [] : plugin.Queue.Submissions[^1].Recipients.Select(r => r.Address.ToString()).ToArray();
    }

    [Fact]
    public async Task A_list_file_is_read_with_comments_blank_lines_and_bare_local_parts()
    {
        Write("team@example.test", "# the team\nalice\n\nbob@example.test   # on leave in May\n  Carol C <carol@example.test>\nbob@EXAMPLE.test\nnot an address\n");
        var plugin = Plugin();

        Assert.Equal(HookDecision.Accept, (await plugin.RcptAsync("team@example.test")).Decision);
        Assert.Equal(["alice@example.test", "bob@example.test", "carol@example.test"], await Expand(plugin, "team@example.test"));
        Assert.Equal("<alice@example.test>\n<bob@example.test>\nCarol C <carol@example.test>", (await plugin.ExpnAsync("team")).Text);
        Assert.Equal("owner-team@example.test", plugin.Queue.Submissions[0].ReversePath.ToString());
    }

    [Fact]
    public async Task A_changed_file_is_read_again_and_new_and_removed_files_are_seen()
    {
        Write("team@example.test", "alice\n");
        var plugin = Plugin();
        Assert.Equal(["alice@example.test"], await Expand(plugin, "team@example.test"));

        Write("team@example.test", "alice\nbob\n", secondsLater: 5);
        Assert.Equal(["alice@example.test", "bob@example.test"], await Expand(plugin, "team@example.test"));

        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("late@example.test")).Decision);
        Write("late@example.test", "dave\n");
        Assert.Equal(HookDecision.Accept, (await plugin.RcptAsync("late@example.test")).Decision);

        File.Delete(Path.Combine(_dir, "team@example.test"));
        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("team@example.test")).Decision);
    }

    [Fact]
    public async Task Editor_temporary_files_and_names_that_are_not_addresses_are_ignored()
    {
        Write(".team@example.test.swp", "x\n");
        Write("team@example.test~", "x\n");
        Write("README", "x\n");
        var plugin = Plugin();
        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("team@example.test")).Decision);
        Assert.Equal(HookDecision.Continue, (await plugin.ExpnAsync("README")).Decision);
    }

    [Fact]
    public async Task Config_and_file_for_the_same_list_merge_with_the_configured_owner_and_description()
    {
        Write("dev@example.test", "bob\nalice\n");
        var plugin = Plugin(("Lists:dev@example.test:Members:0", "alice"), ("Lists:dev@example.test:Owner", "boss@example.test"),
            ("Lists:dev@example.test:Description", "Dev \"core\" team"));

        Assert.Equal(["alice@example.test", "bob@example.test"], await Expand(plugin, "dev@example.test"));
        var copy = plugin.Queue.Submissions[0];
        Assert.Equal("boss@example.test", copy.ReversePath.ToString());
        Assert.Equal(["\"Dev \\\"core\\\" team\" <dev.example.test>"], copy.HeaderValues("List-Id"));
    }

    [Fact]
    public async Task A_missing_folder_means_no_file_lists_until_it_appears()
    {
        Directory.Delete(_dir);
        var plugin = Plugin();
        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("team@example.test")).Decision);
        Directory.CreateDirectory(_dir);
        Write("team@example.test", "alice\n");
        Assert.Equal(HookDecision.Accept, (await plugin.RcptAsync("team@example.test")).Decision);
    }
}
