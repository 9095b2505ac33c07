// The TerminalFile plugin through the real loader: a SEND lands in USER.term while USER.active exists; its failures are "not shown".
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Terminal;

namespace Mta.TerminalFile.Tests;

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TerminalFilePluginTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TerminalMessage Message = new(new SmtpAddress("bob", "example.test"), "lunch?", "Are you coming?\n--- not a header");

    /// <summary>Where the plugin project put its build output (recorded by this project at build time).</summary>
    private static string PluginDirectory { get; } = Path.GetFullPath(typeof(TerminalFilePluginTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TerminalFilePluginDir").Value!);

    private readonly string _files = Path.Combine(Path.GetTempPath(), "mta-termfile-" + Guid.NewGuid().ToString("n")[..12]);

    public TerminalFilePluginTests() => Directory.CreateDirectory(_files);

    public void Dispose() => MtaTestServer.DeleteQuietly(_files);

    private Task<MtaTestServer> StartAsync(params (string Key, string Value)[] settings) =>
        MtaTestServer.StartAsync(o =>
        {
            o.Terminal.Enabled = true;
            o.Plugins["terminalfile"] = new PluginOptions
            {
                Path = PluginDirectory,
                Settings = new ConfigurationBuilder()
                    .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>("Settings:" + s.Key, s.Value)))
                    .Build()
                    .GetSection("Settings"),
            };
            o.Scripts.Enabled = false;
        });

    private static ITerminalSink Sink(MtaTestServer server) =>
        Assert.Single(server.Services.GetRequiredService<ExtensionRegistry>().TerminalSinks);

    [Fact]
    public async Task A_SEND_to_a_user_with_an_active_file_is_appended_to_their_term_file()
    {
        await using var server = await StartAsync(("Directory", _files));
        var loaded = Assert.Single(server.Services.GetRequiredService<PluginLoader>().Loaded);
        Assert.Equal(1, loaded.TerminalSinks);
        Assert.Equal("terminal-file", Sink(server).Name);
        var terminals = server.Services.GetRequiredService<ITerminals>();

        // Not active without alice.active: SEND is refused at RCPT (no other sink has alice either).
        Assert.False(await terminals.IsActiveAsync("alice", Ct));
        await using (var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint))
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await smtp.CommandAsync("SEND FROM:<bob@example.test>")).Code);
            Assert.Equal(450, (await smtp.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        }

        await File.WriteAllTextAsync(Path.Combine(_files, "alice.active"), "", Ct);
        Assert.True(await terminals.IsActiveAsync("alice", Ct));
        await using (var smtp = await RawSmtpClient.ConnectAsync(server.EndPoint))
        {
            await smtp.CommandAsync("EHLO client.test");
            Assert.Equal(250, (await smtp.CommandAsync("SEND FROM:<bob@example.test>")).Code);
            Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<Alice@example.test>")).Code);
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            await smtp.SendAsync("Subject: lunch?\r\n\r\nAre you coming?\r\n\u001b[2J--- not a header\r\n.\r\n");
            Assert.Equal(250, (await smtp.ReadReplyAsync()).Code);
        }

        var term = Path.Combine(_files, "alice.term");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(File.Exists(term) && File.ReadAllText(term).EndsWith("\n\n", StringComparison.Ordinal)) && DateTime.UtcNow < deadline)
            await Task.Delay(20, Ct);
        var lines = File.ReadAllText(term).Split('\n');
        Assert.Matches(@"^--- \d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d from bob@example\.test: lunch\?$", lines[0]);
        Assert.Equal(["Are you coming?", " --- not a header", "", ""], lines[1..]);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(term));
    }

    [Fact]
    public async Task Messages_are_appended_and_the_file_mode_is_configurable()
    {
        await using var server = await StartAsync(("Directory", _files), ("FileMode", "0640"));
        var sink = Sink(server);
        Assert.True(await sink.DeliverAsync("carol", Message, Ct));
        Assert.True(await sink.DeliverAsync("carol", Message with { Subject = null, Text = "second" }, Ct));
        var text = await File.ReadAllTextAsync(Path.Combine(_files, "carol.term"), Ct);
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("--- ", StringComparison.Ordinal)));
        Assert.EndsWith(" from bob@example.test\nsecond\n\n", text);
        Assert.Equal((UnixFileMode)0b110_100_000, File.GetUnixFileMode(Path.Combine(_files, "carol.term")));
    }

    [Fact]
    public async Task A_symbolic_link_a_full_file_or_a_bad_name_is_not_written_and_never_throws()
    {
        await using var server = await StartAsync(("Directory", _files), ("MaxFileBytes", "1024"));
        var sink = Sink(server);

        var target = Path.Combine(_files, "target");
        await File.WriteAllTextAsync(target, "", Ct);
        File.CreateSymbolicLink(Path.Combine(_files, "dave.term"), target);
        Assert.False(await sink.DeliverAsync("dave", Message, Ct));
        Assert.Equal("", await File.ReadAllTextAsync(target, Ct));

        Assert.True(await sink.DeliverAsync("erin", Message, Ct));
        Assert.False(await sink.DeliverAsync("erin", Message with { Text = new string('x', 2000) }, Ct));
        Assert.True(new FileInfo(Path.Combine(_files, "erin.term")).Length <= 1024);

        foreach (var bad in new[] { "../escape", ".hidden", "a/b", "" })
        {
            await File.WriteAllTextAsync(Path.Combine(_files, ".hidden.active"), "", Ct);
            Assert.False(await sink.IsActiveAsync(bad, Ct));
            Assert.False(await sink.DeliverAsync(bad, Message, Ct));
        }
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(_files)!, "escape.term")));
    }

    [Fact]
    public async Task A_missing_directory_setting_stops_start_up_with_the_key_named()
    {
        var missing = await Assert.ThrowsAnyAsync<Exception>(async () => { await using var _ = await StartAsync(); });
        Assert.Contains("Settings:Directory: required", missing.ToString());
        var absent = await Assert.ThrowsAnyAsync<Exception>(async () => { await using var _ = await StartAsync(("Directory", Path.Combine(_files, "nope"))); });
        Assert.Contains("does not exist", absent.ToString());
        var mode = await Assert.ThrowsAnyAsync<Exception>(async () => { await using var _ = await StartAsync(("Directory", _files), ("FileMode", "0755")); });
        Assert.Contains("Settings:FileMode", mode.ToString());
    }

    [Fact]
    public void The_build_output_carries_none_of_the_hosts_shared_assemblies()
    {
        var files = Directory.GetFiles(PluginDirectory, "*.dll").Select(Path.GetFileName).ToArray();
        Assert.Contains("Mta.Plugins.TerminalFile.dll", files);
        Assert.DoesNotContain("Mta.Abstractions.dll", files);
        Assert.DoesNotContain("MimeKit.dll", files);
        Assert.DoesNotContain(files, f => f!.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal));
    }
}
