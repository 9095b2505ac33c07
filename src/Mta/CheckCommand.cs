// `mta check`: everything `mta run` refuses at start, found without starting anything (no listener, no queue, no spool).
using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Configuration;
using Mta.Engine.Auth;
using Mta.Engine.Authentication.Signing;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Extensibility.Scripts;
using Mta.Engine.Outbound.Routing;
using Mta.Engine.Tls;

namespace Mta;

/// <summary>The <c>check</c> command. Exit codes: 0 usable, 2 not (every problem printed).</summary>
public static class CheckCommand
{
    private const int Ok = 0, Invalid = 2;

    /// <summary>Builds <c>mta check</c>, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var check = new Command("check", "Validate the configuration and every file it names, as `mta run` would at start, and exit (0 when usable)") { configOption };
        check.SetAction(async (parse, cancellationToken) =>
        {
            LoadedConfig loaded;
            try
            {
                loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
            }
            catch (ConfigException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return Invalid;
            }
            var errors = await FilesAsync(loaded, cancellationToken);
            if (errors.Count > 0)
            {
                foreach (var error in errors) Console.Error.WriteLine($"{loaded.Source}: {error}");
                return Invalid;
            }
            Console.WriteLine($"{loaded.Source}: configuration OK ({loaded.Options.Listeners.Count} listener(s), local domains: {string.Join(", ", loaded.Options.LocalDomains)})");
            Console.WriteLine($"local recipients: {new Mta.Engine.Routing.LocalRecipientPolicy(loaded.Options.Mailboxes).Describe()}");
            return Ok;
        });
        return check;
    }

    /// <summary>
    /// Builds the service provider `mta run` builds (nothing is started) and asks the parts that read files when they
    /// are made: plugin folders, the users file, the TLS certificate and key files, relay password files, DKIM keys, and
    /// every <see cref="IReloadable"/> (map files, ...); the plugins, loaded and registered as at start; and the scripts, compiled and their top-level code run as at
    /// start (<see cref="ScriptHost.CheckAsync"/>). One message per problem, each naming its key or file.
    /// </summary>
    public static async Task<IReadOnlyList<string>> FilesAsync(LoadedConfig loaded, CancellationToken cancellationToken)
    {
        var options = loaded.Options;
        var errors = new List<string>(PluginLoader.Check(options));
        void Try(Action check)
        {
            try
            {
                check();
            }
            catch (StartupException ex)
            {
                errors.Add(ex.Message);
            }
            catch (Exception ex) when (ex.InnerException is StartupException inner)
            {
                errors.Add(inner.Message);
            }
        }

        async Task TryAsync(Func<Task> check)
        {
            try
            {
                await check().ConfigureAwait(false);
            }
            catch (StartupException ex)
            {
                errors.Add(ex.Message);
            }
        }

        Try(() => UserStore.CheckReadable(options));
        var reloadables = new List<ServiceDescriptor>();
        using var host = MtaHost.Build(loaded, logToStandardError: true, asService: false,
            inspect: services =>
            {
                reloadables.AddRange(services.Where(d => d.ServiceType == typeof(IReloadable)));
                // A check prints its verdict; the components' start-up chatter (files loaded) is left out.
                services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(null, null, LogLevel.Warning, null)));
            });
        var provider = host.Services;
        // A configured certificate is loaded as at start; without one, start-up generates a self-signed one, which
        // a check must not do.
        if (options.Tls.CertificateFile is { Length: > 0 } && options.Listeners.Any(l => l.Tls != ListenerTlsMode.None))
            Try(() => provider.GetRequiredService<CertificateProvider>().Load());
        Try(() => provider.GetRequiredService<NextHopSelector>());
        Try(() => provider.GetRequiredService<DkimKeyStore>());
        // The map files (aliases and the :include: files they name, virtual, canonical, relay recipients) are parsed as
        // newaliases does: every problem as file:line, and the alias warnings (a name given twice) too.
        var aliasWarnings = new List<string>();
        var mapErrors = new List<string>(Mta.Engine.Maps.AliasTable.Check(options, new MtaPaths(options), aliasWarnings));
        mapErrors.AddRange(Mta.Engine.Maps.AddressMapChecks.Check(options));
        foreach (var warning in aliasWarnings) Console.Error.WriteLine("warning: " + warning);
        errors.AddRange(mapErrors);
        // Each reloadable on its own, so that every broken file is named, not just the first. With a broken map file
        // they would only repeat its first problem (the maps are reloadables, and the live RCPT policy is built on them).
        if (mapErrors.Count == 0)
            foreach (var descriptor in reloadables)
                Try(() => Create(provider, descriptor));
        // Plugins as start-up loads them (assembly, entry type, constructor, Register), once every folder is there: the
        // loader stops at its first failure, so the missing folders are listed first, all of them.
        if (!errors.Any(e => e.StartsWith("Plugins:", StringComparison.Ordinal)))
            await TryAsync(() => provider.GetRequiredService<PluginLoader>().LoadAsync(cancellationToken)).ConfigureAwait(false);
        // The same code path as start-up: a script that does not compile, throws or never returns at load.
        errors.AddRange(await provider.GetRequiredService<ScriptHost>().CheckAsync(cancellationToken).ConfigureAwait(false));
        return errors;
    }

    private static object? Create(IServiceProvider provider, ServiceDescriptor descriptor) =>
        descriptor.ImplementationInstance
        ?? descriptor.ImplementationFactory?.Invoke(provider)
        ?? (descriptor.ImplementationType is { } type ? ActivatorUtilities.CreateInstance(provider, type) : null);
}
