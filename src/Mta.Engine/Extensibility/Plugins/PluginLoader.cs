// Loads the configured plugins from disk (McMaster.NETCore.Plugins) and lets each register its hooks, agents and sinks.
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Extensibility.State;
using McMasterLoader = McMaster.NETCore.Plugins.PluginLoader;

namespace Mta.Engine.Extensibility.Plugins;

/// <summary>
/// The <see cref="IExtensionLoader"/> for plugins. For each enabled entry of <see cref="MtaOptions.Plugins"/>, in
/// (<see cref="PluginOptions.Order"/>, name) order, it finds the plugin's main assembly, loads it into its own load
/// context with <c>Mta.Abstractions</c> and its dependencies shared (so a plugin's <see cref="HookResult"/> is the
/// host's type), creates its one <see cref="IMtaPlugin"/> and calls <see cref="IMtaPlugin.Register"/>.
/// A failure stops start-up with <c>Plugins:NAME: PATH: REASON</c>, or is logged and skipped for an optional plugin.
/// </summary>
public sealed partial class PluginLoader(
    MtaOptions options,
    HookPipeline pipeline,
    ExtensionRegistry registry,
    StateStoreProvider states,
    IMessageSubmitter submitter,
    IDnsResolver dns,
    ILoggerFactory loggerFactory,
    TimeProvider time) : IExtensionLoader
{
    /// <summary>
    /// Types whose assemblies the host shares with every plugin: the contract and what its signatures expose.
    /// A plugin that ships its own copy of these still gets the host's (PreferSharedTypes).
    /// </summary>
    public static readonly Type[] SharedTypes =
    [
        typeof(IMtaPlugin),
        typeof(IConfiguration),
        typeof(ILogger),
        typeof(MimeKit.MimeMessage),
    ];

    private readonly ILogger _logger = loggerFactory.CreateLogger<PluginLoader>();
    // Kept for the life of the process: the plugins' load contexts are not unloadable.
    private readonly List<McMasterLoader> _loaders = [];
    private readonly List<LoadedPlugin> _loaded = [];

    /// <summary>The plugins loaded so far, in load order.</summary>
    public IReadOnlyList<LoadedPlugin> Loaded => _loaded;

    /// <inheritdoc />
    public Task LoadAsync(CancellationToken cancellationToken)
    {
        var entries = options.Plugins
            .OrderBy(p => p.Value.Order)
            .ThenBy(p => p.Key, StringComparer.OrdinalIgnoreCase)
            .ToArray();
        for (var index = 0; index < entries.Length; index++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (name, plugin) = (entries[index].Key, entries[index].Value);
            if (!plugin.Enabled)
            {
                LogDisabled(name);
                continue;
            }
            var path = ResolvePath(name, plugin);
            try
            {
                _loaded.Add(Load(name, plugin, path, index));
            }
            catch (PluginLoadException ex)
            {
                Fail(name, plugin, path, ex.Message, ex.InnerException);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Fail(name, plugin, path, Describe(ex), ex);
            }
        }
        return Task.CompletedTask;
    }

    private void Fail(string name, PluginOptions plugin, string path, string reason, Exception? inner)
    {
        // Handlers a half-registered plugin added must not run without the rest of it.
        pipeline.RemoveOwner(OwnerOf(name));
        if (!plugin.Optional) throw new StartupException($"Plugins:{name}: {path}: {reason}", inner);
        LogSkipped(inner, name, path, reason);
    }

    /// <summary>
    /// What <c>mta check</c> can tell without loading any plugin: each enabled plugin that is not optional has a folder
    /// (or .dll) with its main assembly. One <c>Plugins:NAME: PATH: REASON</c> per problem, as start-up words it.
    /// </summary>
    public static IReadOnlyList<string> Check(MtaOptions options)
    {
        var errors = new List<string>();
        foreach (var (name, plugin) in options.Plugins)
        {
            if (plugin is not { Enabled: true, Optional: false }) continue;
            var path = ResolvePath(options, name, plugin);
            try
            {
                FindMainAssembly(name, path);
            }
            catch (PluginLoadException ex)
            {
                errors.Add($"Plugins:{name}: {path}: {ex.Message}");
            }
        }
        return errors;
    }

    /// <summary>The pipeline owner of a plugin's handlers.</summary>
    public static string OwnerOf(string name) => "plugin:" + name;

    /// <summary><see cref="PluginOptions.Path"/>, else <c>PluginsDirectory/NAME</c>; relative to the configuration file's folder.</summary>
    public string ResolvePath(string name, PluginOptions plugin) => ResolvePath(options, name, plugin);

    private static string ResolvePath(MtaOptions options, string name, PluginOptions plugin)
        => MtaPaths.ResolveFor(options, string.IsNullOrWhiteSpace(plugin.Path) ? Path.Combine(options.PluginsDirectory, name) : plugin.Path);

    private LoadedPlugin Load(string name, PluginOptions plugin, string path, int index)
    {
        var assemblyPath = FindMainAssembly(name, path);
        var directory = Path.GetDirectoryName(assemblyPath)!;
        var loader = McMasterLoader.CreateFromAssemblyFile(assemblyPath, SharedTypes, config => config.PreferSharedTypes = true);
        _loaders.Add(loader);

        Assembly assembly;
        try
        {
            assembly = loader.LoadDefaultAssembly();
        }
        catch (Exception ex) when (ex is BadImageFormatException or FileLoadException or FileNotFoundException)
        {
            throw new PluginLoadException($"cannot load {Path.GetFileName(assemblyPath)}: {ex.Message}", ex);
        }

        var entryType = FindEntryType(assembly);
        IMtaPlugin instance;
        try
        {
            instance = (IMtaPlugin)Activator.CreateInstance(entryType)!;
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw new PluginLoadException($"{entryType.FullName}'s constructor threw {Describe(ex.InnerException)}", ex.InnerException);
        }
        catch (MissingMethodException ex)
        {
            throw new PluginLoadException($"{entryType.FullName} has no public parameterless constructor", ex);
        }

        var settings = plugin.Settings ?? (IConfiguration)new ConfigurationBuilder().Build();
        var context = new PluginContext(name, directory, settings,
            pipeline.ForOwner(OwnerOf(name), order: index, budget: null),
            states.Get(OwnerOf(name)), loggerFactory.CreateLogger("Mta.Plugin." + name), submitter, dns, registry, time);
        try
        {
            instance.Register(context);
        }
        catch (Exception ex)
        {
            throw new PluginLoadException($"{entryType.FullName}.Register threw {Describe(ex)}", ex);
        }
        context.Commit();

        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                      ?? assembly.GetName().Version?.ToString() ?? "?";
        var loaded = new LoadedPlugin(name, assemblyPath, version, entryType.FullName!, context.RegisteredHooks, context.DeliveryAgents, context.TerminalSinks);
        LogLoaded(name, assemblyPath, version, context.RegisteredHooks.Count == 0 ? "none" : string.Join(", ", context.RegisteredHooks),
            context.DeliveryAgents.Count == 0 ? "none" : string.Join(", ", context.DeliveryAgents), context.TerminalSinks);
        return loaded;
    }

    /// <summary>
    /// The .dll itself when <paramref name="path"/> is one; else <c>NAME.dll</c> in the folder; else the only .dll
    /// there that defines a type implementing <see cref="IMtaPlugin"/> (read from metadata, nothing is loaded).
    /// </summary>
    internal static string FindMainAssembly(string name, string path)
    {
        if (File.Exists(path))
        {
            if (!path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
                throw new PluginLoadException("the path is a file but not a .dll");
            return path;
        }
        if (!Directory.Exists(path))
            throw new PluginLoadException("no such folder (build or publish the plugin there, or set Path)");
        var named = Path.Combine(path, name + ".dll");
        if (File.Exists(named)) return named;
        var candidates = Directory.GetFiles(path, "*.dll").Where(DefinesPlugin).ToArray();
        return candidates.Length switch
        {
            1 => candidates[0],
            0 => throw new PluginLoadException($"no {name}.dll and no .dll in the folder defines an IMtaPlugin"),
            _ => throw new PluginLoadException($"no {name}.dll and several .dlls define an IMtaPlugin ({string.Join(", ", candidates.Select(Path.GetFileName))}); set Path to one"),
        };
    }

    /// <summary>True when the file is a managed assembly with a type that directly implements Mta.Abstractions.IMtaPlugin.</summary>
    private static bool DefinesPlugin(string file)
    {
        try
        {
            using var stream = File.OpenRead(file);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata) return false;
            var md = pe.GetMetadataReader();
            foreach (var handle in md.TypeDefinitions)
            {
                foreach (var implHandle in md.GetTypeDefinition(handle).GetInterfaceImplementations())
                {
                    var iface = md.GetInterfaceImplementation(implHandle).Interface;
                    if (iface.Kind != HandleKind.TypeReference) continue;
                    var reference = md.GetTypeReference((TypeReferenceHandle)iface);
                    if (md.StringComparer.Equals(reference.Name, nameof(IMtaPlugin))
                        && md.StringComparer.Equals(reference.Namespace, typeof(IMtaPlugin).Namespace!))
                        return true;
                }
            }
            return false;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private static Type FindEntryType(Assembly assembly)
    {
        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            var first = ex.LoaderExceptions.FirstOrDefault(e => e is not null);
            throw new PluginLoadException($"types of {assembly.GetName().Name} cannot be loaded: {first?.Message ?? ex.Message}", ex);
        }
        catch (Exception ex) when (ex is FileNotFoundException or FileLoadException or TypeLoadException)
        {
            throw new PluginLoadException($"types of {assembly.GetName().Name} cannot be loaded: {ex.Message}", ex);
        }
        var entries = types.Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IMtaPlugin).IsAssignableFrom(t)).ToArray();
        if (entries.Length == 1) return entries[0];
        if (entries.Length > 1)
            throw new PluginLoadException($"{assembly.GetName().Name} has {entries.Length} IMtaPlugin types ({string.Join(", ", entries.Select(t => t.FullName))}); exactly one is allowed");
        // A plugin built against its own copy of Mta.Abstractions implements a different IMtaPlugin: say so.
        var foreign = types.FirstOrDefault(t => t.GetInterfaces().Any(i => i.FullName == typeof(IMtaPlugin).FullName));
        if (foreign is not null)
            throw new PluginLoadException($"{foreign.FullName} implements an IMtaPlugin that is not the host's (is Mta.Abstractions loaded from the plugin folder?)");
        throw new PluginLoadException($"{assembly.GetName().Name} has no public non-abstract IMtaPlugin type");
    }

    private static string Describe(Exception ex) => $"{ex.GetType().Name}: {ex.Message}";

    /// <summary>A failure with a reason worded for the operator.</summary>
    private sealed class PluginLoadException(string message, Exception? inner = null) : Exception(message, inner);

    [LoggerMessage(EventId = LogEvents.Plugins.Loaded, Level = LogLevel.Information,
        Message = "Plugin {Plugin} loaded from {Path}, version {Version}; hooks: {Hooks}; delivery agents: {Agents}; terminal sinks: {Sinks}")]
    private partial void LogLoaded(string plugin, string path, string version, string hooks, string agents, int sinks);

    [LoggerMessage(EventId = LogEvents.Plugins.Skipped, Level = LogLevel.Warning, Message = "Optional plugin {Plugin} at {Path} was not loaded: {Reason}")]
    private partial void LogSkipped(Exception? exception, string plugin, string path, string reason);

    [LoggerMessage(EventId = LogEvents.Plugins.Disabled, Level = LogLevel.Information, Message = "Plugin {Plugin} is disabled")]
    private partial void LogDisabled(string plugin);
}

/// <summary>A plugin that loaded and registered.</summary>
/// <param name="Name">Its configured name.</param>
/// <param name="AssemblyPath">Its main assembly.</param>
/// <param name="Version">The assembly's informational version.</param>
/// <param name="EntryType">The IMtaPlugin type's full name.</param>
/// <param name="Hooks">Its handlers as <c>NAME/handler (Context)</c>.</param>
/// <param name="DeliveryAgents">The delivery agents it added.</param>
/// <param name="TerminalSinks">The number of terminal sinks it added.</param>
public sealed record LoadedPlugin(string Name, string AssemblyPath, string Version, string EntryType,
    IReadOnlyList<string> Hooks, IReadOnlyList<string> DeliveryAgents, int TerminalSinks);
