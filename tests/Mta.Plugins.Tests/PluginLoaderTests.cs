// The plugin loader, driven through the real engine: loading from disk, failures, optional and disabled plugins, order.
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility;
using Mta.Engine.Extensibility.Plugins;
using Mta.Plugins.Tests.Infrastructure;

namespace Mta.Plugins.Tests;

public sealed class PluginLoaderTests
{
    private static async Task<RawSmtpClient> MailFromAsync(MtaTestServer server)
    {
        var c = await RawSmtpClient.ConnectAsync(server.EndPoint);
        await SmtpAssert.EhloAsync(c);
        SmtpAssert.Reply(await c.CommandAsync("MAIL FROM:<sender@remote.test>"), 250);
        return c;
    }

    [Fact]
    public async Task A_plugin_loaded_from_disk_decides_with_the_hosts_HookResult()
    {
        await using var server = await PluginServer.StartAsync(o => o.Plugins["probe"] = PluginConfig.Probe(0, ("DecideText", "Probe says no")));
        await using var c = await MailFromAsync(server);
        // The handler's Reject reaches the wire with its own code and text: its HookResult is the host's type.
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1", "Probe says no");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<user@example.test>"), 250);

        var loaded = Assert.Single(server.Services.GetRequiredService<PluginLoader>().Loaded);
        Assert.Equal("probe", loaded.Name);
        Assert.EndsWith("Mta.TestPlugins.Probe.dll", loaded.AssemblyPath);
        Assert.Contains("probe/rcpt (RcptContext)", loaded.Hooks);
        Assert.Contains("probe/rcpt", server.Services.GetRequiredService<HookPipeline>().HandlerNames<RcptContext>());
        // One copy of the contract in the process: the plugin did not bring its own.
        Assert.Single(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == "Mta.Abstractions");
        Assert.False(File.Exists(Path.Combine(PluginServer.ProbeOutput, "Mta.Abstractions.dll")));
    }

    [Theory]
    [InlineData("plugins/Mta.Plugins.Greylist")]
    [InlineData("tests/TestPlugins/Mta.TestPlugins.Probe")]
    public void A_plugin_build_output_carries_none_of_the_hosts_shared_assemblies(string project)
    {
        var files = Directory.GetFiles(PluginServer.BuildOutput(project), "*.dll").Select(Path.GetFileName).ToArray();
        Assert.NotEmpty(files);
        Assert.DoesNotContain("Mta.Abstractions.dll", files);
        Assert.DoesNotContain("MimeKit.dll", files);
        Assert.DoesNotContain(files, f => f!.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_plugin_state_store_is_the_one_the_provider_hands_out()
    {
        await using var server = await PluginServer.StartAsync(o => o.Plugins["probe"] = PluginConfig.Probe());
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<user@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<other@example.test>"), 250);
        var state = server.Services.GetRequiredService<Mta.Engine.Extensibility.State.StateStoreProvider>().Get("plugin:probe");
        Assert.True(state.TryGet<long>("rcpt-seen", out var seen));
        Assert.Equal(2, seen);
    }

    [Fact]
    public async Task A_plugin_folder_under_PluginsDirectory_is_found_by_name_and_its_main_assembly_by_its_IMtaPlugin()
    {
        var root = PluginServer.NewRoot();
        try
        {
            var folder = Path.Combine(root, "plugins", "probe");
            Directory.CreateDirectory(folder);
            foreach (var file in Directory.GetFiles(PluginServer.ProbeOutput))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            await using var server = await PluginServer.StartAsync(o => o.Plugins["probe"] = new PluginOptions(), root: root);
            var loaded = Assert.Single(server.Services.GetRequiredService<PluginLoader>().Loaded);
            Assert.Equal(Path.Combine(folder, "Mta.TestPlugins.Probe.dll"), loaded.AssemblyPath);
            await using var c = await MailFromAsync(server);
            SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1", "rejected by probe");
        }
        finally
        {
            PluginServer.TryDelete(root);
        }
    }

    [Fact]
    public async Task A_path_to_the_dll_itself_is_loaded()
    {
        await using var server = await PluginServer.StartAsync(o => o.Plugins["probe"] = new PluginOptions
        {
            Path = Path.Combine(PluginServer.ProbeOutput, "Mta.TestPlugins.Probe.dll"),
        });
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1");
    }

    [Fact]
    public async Task A_throwing_handler_gives_451_4_3_0_and_the_session_goes_on()
    {
        await using var server = await PluginServer.StartAsync(o => o.Plugins["probe"] = PluginConfig.Probe());
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<throw@example.test>"), 451, "4.3.0");
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<user@example.test>"), 250);
        SmtpAssert.Reply(await c.CommandAsync("NOOP"), 250);
    }

    [Fact]
    public async Task A_hanging_handler_gives_451_4_3_0_within_its_budget()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            o.Hooks.Timeout = TimeSpan.FromMilliseconds(500);
            o.Plugins["probe"] = PluginConfig.Probe();
        });
        await using var c = await MailFromAsync(server);
        var watch = Stopwatch.StartNew();
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<hang@example.test>"), 451, "4.3.0");
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(5));
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<user@example.test>"), 250);
    }

    [Fact]
    public async Task A_plugin_whose_Register_throws_stops_start_up_naming_the_plugin_and_path()
    {
        var ex = await PluginServer.StartFailsAsync(o => o.Plugins["broken"] = PluginConfig.Probe(0, ("RegisterThrows", "true")));
        var startup = Assert.IsType<StartupException>(ex);
        Assert.StartsWith("Plugins:broken: " + PluginServer.ProbeOutput + ": ", startup.Message);
        Assert.Contains("probe Register failure", startup.Message);
    }

    [Fact]
    public async Task An_optional_plugin_that_fails_is_skipped_and_leaves_no_handler_behind()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            var broken = PluginConfig.Probe(0, ("RegisterThrows", "true"), ("Agent", "true"));
            broken.Optional = true;
            o.Plugins["broken"] = broken;
        });
        Assert.Empty(server.Services.GetRequiredService<PluginLoader>().Loaded);
        Assert.Empty(server.Services.GetRequiredService<HookPipeline>().HandlerNames<RcptContext>());
        Assert.False(server.Services.GetRequiredService<ExtensionRegistry>().TryGetDeliveryAgent("memory", out _));
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 250);
    }

    [Fact]
    public async Task A_missing_folder_stops_start_up_with_a_clear_message()
    {
        var missing = Path.Combine(Path.GetTempPath(), "mta-no-such-plugin-" + Guid.NewGuid().ToString("n")[..8]);
        var ex = await PluginServer.StartFailsAsync(o => o.Plugins["ghost"] = new PluginOptions { Path = missing });
        var startup = Assert.IsType<StartupException>(ex);
        Assert.Equal($"Plugins:ghost: {missing}: no such folder (build or publish the plugin there, or set Path)", startup.Message);
    }

    [Fact]
    public async Task A_missing_optional_plugin_is_skipped()
    {
        await using var server = await PluginServer.StartAsync(o => o.Plugins["ghost"] = new PluginOptions { Optional = true });
        Assert.Empty(server.Services.GetRequiredService<PluginLoader>().Loaded);
    }

    [Fact]
    public async Task A_folder_without_a_plugin_stops_start_up()
    {
        var empty = PluginServer.NewRoot();
        try
        {
            File.WriteAllText(Path.Combine(empty, "not-an-assembly.dll"), "hello");
            var ex = await PluginServer.StartFailsAsync(o => o.Plugins["hollow"] = new PluginOptions { Path = empty });
            Assert.Contains($"Plugins:hollow: {empty}: no hollow.dll and no .dll in the folder defines an IMtaPlugin", ex.Message);
        }
        finally
        {
            PluginServer.TryDelete(empty);
        }
    }

    [Fact]
    public async Task A_disabled_plugin_is_not_loaded()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            var probe = PluginConfig.Probe();
            probe.Enabled = false;
            o.Plugins["probe"] = probe;
            // Not even looked for.
            o.Plugins["ghost"] = new PluginOptions { Enabled = false };
        });
        Assert.Empty(server.Services.GetRequiredService<PluginLoader>().Loaded);
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 250);
    }

    [Fact]
    public async Task The_lower_Order_runs_first_whatever_the_names()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            o.Plugins["a-late"] = PluginConfig.Probe(2, ("DecideText", "late plugin"));
            o.Plugins["b-early"] = PluginConfig.Probe(1, ("DecideText", "early plugin"));
        });
        Assert.Equal(["b-early", "a-late"], server.Services.GetRequiredService<PluginLoader>().Loaded.Select(p => p.Name));
        Assert.Equal(["b-early/rcpt", "a-late/rcpt"], server.Services.GetRequiredService<HookPipeline>().HandlerNames<RcptContext>());
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1", "early plugin");
    }

    [Fact]
    public async Task Equal_orders_run_by_name()
    {
        await using var server = await PluginServer.StartAsync(o =>
        {
            o.Plugins["zeta"] = PluginConfig.Probe(0, ("DecideText", "zeta"));
            o.Plugins["alpha"] = PluginConfig.Probe(0, ("DecideText", "alpha"));
        });
        await using var c = await MailFromAsync(server);
        SmtpAssert.Reply(await c.CommandAsync("RCPT TO:<decide@example.test>"), 550, "5.7.1", "alpha");
    }
}
