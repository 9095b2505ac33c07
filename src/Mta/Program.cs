// The `mta` command: run the server, or check a configuration without starting it.
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
    Description = $"Configuration file (default: ./{ConfigLoader.DefaultFileName}, else the embedded default beside the executable)",
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
        Console.Error.WriteLine(ex.Message);
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
        Console.Error.WriteLine(ex.Message);
        return 1;
    }
    return 0;
});

var check = new Command("check", "Validate the configuration and exit (0 when it is usable)") { configOption };
check.SetAction(parse =>
{
    try
    {
        var loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
        // Scripts are compiled (not run): a script that would stop `mta run` fails the check the same way.
        var scriptErrors = Mta.Engine.Extensibility.Scripts.ScriptCompiler.CheckAll(loaded.Options);
        if (scriptErrors.Count > 0)
        {
            Console.Error.WriteLine($"{loaded.Source}: {scriptErrors.Count} script error(s):");
            foreach (var error in scriptErrors) Console.Error.WriteLine(error);
            return 2;
        }
        // The DKIM keys are read as `mta run` reads them: a missing or unusable key file fails the check too.
        try
        {
            _ = new Mta.Engine.Authentication.Signing.DkimKeyStore(loaded.Options, new Mta.Engine.Configuration.MtaPaths(loaded.Options));
        }
        catch (Mta.Engine.Configuration.StartupException ex)
        {
            Console.Error.WriteLine($"{loaded.Source}: {ex.Message}");
            return 2;
        }
        Console.WriteLine($"{loaded.Source}: configuration OK ({loaded.Options.Listeners.Count} listener(s), local domains: {string.Join(", ", loaded.Options.LocalDomains)})");
        Console.WriteLine($"local recipients: {new Mta.Engine.Routing.LocalRecipientPolicy(loaded.Options.Mailboxes).Describe()}");
        return 0;
    }
    catch (ConfigException ex)
    {
        Console.Error.WriteLine(ex.Message);
        return 2;
    }
});

var root = new RootCommand("Mta, a mail transfer agent whose policy is written in C#") { run, check, Mta.Scaffolding.NewCommand.Create(), Mta.UserCommand.Create(configOption), Mta.QueueCommand.Create(configOption),
    Mta.TerminalCommand.Create(configOption),
    Mta.TurnCommand.Create(configOption), Mta.DkimCommand.Create(configOption), Mta.AuthCommand.Create(configOption) };
foreach (var command in Mta.InstallCommand.Create()) root.Subcommands.Add(command);
// Listed for --help only: `mta sendmail ...` is taken above, before this parser, whose syntax is not sendmail's.
root.Subcommands.Add(new Command("sendmail", "sendmail(1)-compatible local submission (-t, -i, -f, -F, -bs, -bp, -q; see docs/sendmail.md)"));
return await root.Parse(args).InvokeAsync();
