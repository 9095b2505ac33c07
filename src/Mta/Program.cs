// The `mta` command: run the server, check a configuration without starting it, reload the running server, and the tools.
using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Configuration;

// Called as sendmail or mailq (a link to this executable), or as `mta sendmail ...`: the sendmail(1) command line,
// which is not System.CommandLine's (getopt-style flags such as -oi and -bs).
if (Mta.Sendmail.SendmailCommand.InvokedName() is { } invokedAs && Mta.Sendmail.SendmailCommand.Names.Contains(invokedAs))
    return await Mta.Sendmail.SendmailCommand.RunAsync(invokedAs, args, CancellationToken.None);
if (args is ["sendmail", ..])
    return await Mta.Sendmail.SendmailCommand.RunAsync("sendmail", args[1..], CancellationToken.None);

var configOption = new Option<FileInfo?>("--config", "-c")
{
    Description = $"Configuration file (default: {ConfigLoader.DiscoveryRule}); relative paths in it are relative to its folder",
};

var run = new Command("run", "Run the mail server until Ctrl-C or SIGTERM") { configOption };
run.SetAction(async (parse, cancellationToken) =>
{
    LoadedConfig loaded;
    try
    {
        loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
    }
    catch (ConfigException ex)
    {
        // The configured format is not known when the configuration does not load: the journal's, or text.
        Mta.Logging.StartupErrorWriter.Write(Console.Error, Mta.MtaHost.ChooseLogFormat(null), ex.Message);
        return 2;
    }
    using var host = Mta.MtaHost.Build(loaded);
    var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Mta");
    logger.LogInformation("Mta starting with {Config}", loaded.Source);
    try
    {
        await host.RunAsync(cancellationToken);
    }
    catch (Mta.Engine.Configuration.StartupException ex)
    {
        Mta.Logging.StartupErrorWriter.Write(Console.Error, Mta.MtaHost.ChooseLogFormat(loaded.Configuration[Mta.Engine.Configuration.LogFormats.Key]), ex.Message);
        return 1;
    }
    return 0;
});

var root = new RootCommand("Mta, a mail transfer agent whose policy is written in C#") { run, Mta.CheckCommand.Create(configOption), Mta.ReloadCommand.Create(configOption), Mta.Scaffolding.NewCommand.Create(), Mta.UserCommand.Create(configOption), Mta.QueueCommand.Create(configOption),
    Mta.StatusCommand.Create(configOption),
    Mta.TerminalCommand.Create(configOption),
    Mta.TurnCommand.Create(configOption), Mta.DkimCommand.Create(configOption), Mta.AuthCommand.Create(configOption) };
foreach (var command in Mta.InstallCommand.Create()) root.Subcommands.Add(command);
root.Subcommands.Add(Mta.TestCommand.Create(configOption));
// Listed for --help only: `mta sendmail ...` is taken above, before this parser, whose syntax is not sendmail's.
root.Subcommands.Add(new Command("sendmail", "sendmail(1)-compatible local submission (-t, -i, -f, -F, -bs, -bp, -q; see docs/sendmail.md)"));
return await root.Parse(args).InvokeAsync();
