// The Terminal section: defaults, validation messages naming the key, and what AddMtaTerminals registers.
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Extensibility;
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Terminal;

public sealed class TerminalConfigurationTests
{
    [Fact]
    public void The_defaults_are_off_and_valid()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        Assert.False(options.Terminal.Enabled);
        Assert.Equal(4096, options.Terminal.MaxTextBytes);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Terminal.SinkTimeout);
        Assert.False(options.Terminal.Tty.Enabled);
        Assert.Equal("/var/run/utmp", options.Terminal.Tty.UtmpPath);
        Assert.Equal("/dev", options.Terminal.Tty.DevDirectory);
        Assert.Empty(options.Terminal.Tokens);
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Terminal.MaxTextBytes = 10;
        options.Terminal.SinkTimeout = TimeSpan.FromSeconds(2);
        options.Terminal.Tty.UtmpPath = " ";
        options.Terminal.Tty.DevDirectory = "";
        options.Terminal.Tty.WriteTimeout = TimeSpan.FromSeconds(3);
        options.Terminal.Tokens["alice"] = "short";
        options.Terminal.Tokens["../x"] = "long-enough-token-value";
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Contains("Terminal:MaxTextBytes: must be between 256 and 1048576", errors);
        Assert.Contains("Terminal:Tty:UtmpPath: must not be empty", errors);
        Assert.Contains("Terminal:Tty:DevDirectory: must not be empty", errors);
        Assert.Contains("Terminal:Tty:WriteTimeout: must be shorter than Terminal:SinkTimeout (the limit of the whole sink)", errors);
        Assert.Contains(errors, e => e.StartsWith("Terminal:Tokens:alice: a token must be at least 16 characters", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Terminal:Tokens:../x: a key is a mailbox user", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AddMtaTerminals_registers_the_registry_the_sinks_and_the_attach_command(bool tty)
    {
        var options = new MtaOptions();
        options.Terminal.Enabled = true;
        options.Terminal.Tty.Enabled = tty;
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(options);
        services.AddSingleton<ExtensionRegistry>();
        services.AddMtaTerminals();
        services.AddMtaTerminals();
        using var provider = services.BuildServiceProvider();

        var terminals = provider.GetRequiredService<ITerminals>();
        var registry = Assert.IsType<TerminalRegistry>(terminals);
        Assert.Same(registry, provider.GetRequiredService<TerminalRegistry>());
        Assert.True(terminals.Enabled);
        Assert.Equal(tty ? ["control", "tty"] : ["control"], registry.Sinks.Select(s => s.Name));
        var handler = Assert.Single(provider.GetServices<IControlCommandHandler>());
        Assert.Equal(TerminalControlCommands.Attach, handler.Name);
        Assert.True(handler.AnyUser);
        Assert.Equal(TimeSpan.FromSeconds(2), provider.GetRequiredService<ControlTerminalSink>().SendTimeout);
    }
}
