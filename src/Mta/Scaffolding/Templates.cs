// The text of the skeletons `mta new` writes.
using Mta.Abstractions;

namespace Mta.Scaffolding;

internal static class Templates
{
    public static string Script(Type context, string meaning)
    {
        var name = context.Name;
        var example = context == typeof(RcptContext)
            ? """
                  // Example: refuse one local part. Reject gives a 5xx, Defer a 4xx, Accept skips the built-in checks.
                  if (ctx.Recipient.Address.LocalPart.Equals("nobody", StringComparison.OrdinalIgnoreCase))
                      return HookResult.Reject("No such user here", 550, "5.1.1");
              """
            : context == typeof(HeloContext) || context == typeof(EhloContext)
            ? """
                  // Example: refuse an empty-looking greeting name.
                  if (ctx.Domain.Length < 3)
                      return HookResult.Reject("Helo command rejected: need a real host name", 504, "5.5.2");
              """
            : context == typeof(DataPostContext)
            ? """
                  // Example: tag every message. The whole message is ctx.Message (GetMimeMessageAsync parses it).
                  ctx.Transaction.AddHeader("X-Checked-By", ScriptName);
              """
            : context == typeof(MailContext)
            ? """
                  // Example: refuse a sender domain.
                  if (ctx.Transaction.ReversePath.Domain.EndsWith(".invalid", StringComparison.OrdinalIgnoreCase))
                      return HookResult.Reject("Sender domain not accepted", 550, "5.7.1");
              """
            : """
                  // Decide here: HookResult.Accept(), Reject(text, code, enhanced), Defer(...), Disconnect(...).
              """;
        return $$"""
            // {{name}} handler: {{meaning}}.
            // Loaded from the scripts folder at start and swapped in again whenever this file is saved.
            // Settings: Scripts:Settings:<this file's name without its order prefix: 10-blocklist.csx reads blocklist> in
            // mta.config.json. Paths resolve from ScriptDirectory (ResolvePath). Guide: docs/scripts.md.
            On<{{name}}>(ctx =>
            {
            {{example}}
                // No opinion: the next handler, or the server's built-in behaviour, decides.
                return HookResult.Continue;
            });

            """;
    }

    public static string PluginProject(string mtaDirectory, string output) => $"""
        <Project Sdk="Microsoft.NET.Sdk">
          <!-- An Mta plugin. `dotnet build -c Release` here writes it to the folder the server loads it from; then list it
               under Plugins in mta.config.json. -->
          <PropertyGroup>
            <TargetFramework>net10.0</TargetFramework>
            <Nullable>enable</Nullable>
            <ImplicitUsings>enable</ImplicitUsings>
            <EnableDynamicLoading>true</EnableDynamicLoading>
        {PluginOutputProperties(output)}
          </PropertyGroup>
          <ItemGroup>
        {HostAssemblyReferences(mtaDirectory)}
          </ItemGroup>
        </Project>

        """;

    /// <summary>The build and publish output go to <paramref name="output"/> (relative to the project folder), the
    /// plugin's folder under the server's PluginsDirectory: never into the sources, where the server would not look and
    /// where a second copy of the assemblies would be picked up by the next build's globs.</summary>
    public static string PluginOutputProperties(string output)
    {
        var folder = output.Replace('\\', '/').TrimEnd('/') + "/";
        var rooted = Path.IsPathRooted(output) ? folder : "$(MSBuildProjectDirectory)/" + folder;
        return $"""
                <!-- Where the server loads this plugin from (PluginsDirectory/NAME): build and publish both write there. -->
                <PluginOutputDirectory>{rooted}</PluginOutputDirectory>
                <OutDir>$(PluginOutputDirectory)</OutDir>
                <PublishDir>$(PluginOutputDirectory)</PublishDir>
            """;
    }

    /// <summary>References to the assemblies the host provides, from the mta installation in <paramref name="mtaDirectory"/>.</summary>
    public static string HostAssemblyReferences(string mtaDirectory)
    {
        var dir = mtaDirectory.TrimEnd('/', '\\');
        string Shared(string assembly) => $"""
                <Reference Include="{assembly}">
                  <HintPath>{Path.Combine(dir, assembly + ".dll")}</HintPath>
                  <!-- The host provides this assembly: a private copy would make the plugin's hook types differ from the host's. -->
                  <Private>false</Private>
                </Reference>
            """;
        return string.Join(Environment.NewLine, HostAssemblies.Select(Shared));
    }

    /// <summary>The host's assemblies a plugin compiles against; Configuration.Binder gives <c>Settings.GetValue</c>.</summary>
    private static readonly string[] HostAssemblies =
    [
        "Mta.Abstractions",
        "MimeKit",
        "Microsoft.Extensions.Configuration.Abstractions",
        "Microsoft.Extensions.Configuration.Binder",
        "Microsoft.Extensions.Logging.Abstractions",
        "Microsoft.Extensions.Primitives",
    ];

    public static string PluginCode(string name, string className) => $$"""
        // {{name}}: an Mta plugin. The host creates this class once at start and calls Register.
        using Microsoft.Extensions.Configuration;
        using Microsoft.Extensions.Logging;
        using Mta.Abstractions;

        namespace {{className[..^"Plugin".Length]}};

        public sealed class {{className}} : IMtaPlugin
        {
            public void Register(IPluginContext context)
            {
                // Settings come from Plugins:{{name}}:Settings in mta.config.json.
                var blocked = context.Settings.GetSection("BlockedSenders").GetChildren().Select(c => c.Value).OfType<string>().ToArray();
                var rejectText = context.Settings.GetValue("RejectText", "Sender not accepted here")!;
                context.Logger.LogInformation("{Plugin} blocks {Count} senders", context.Name, blocked.Length);

                context.Hooks.Register<MailContext>($"{context.Name}/mail", (ctx, ct) =>
                    ValueTask.FromResult(blocked.Contains(ctx.Transaction.ReversePath.ToString(), StringComparer.OrdinalIgnoreCase)
                        ? HookResult.Reject(rejectText, 550, "5.7.1")
                        : HookResult.Continue));
            }
        }

        """;

    public static string PluginReadme(string name, string language, string output) => $$"""
        # {{name}}

        An Mta plugin in {{language}}.

        - Hooks: `mail` (refuses senders listed in `BlockedSenders`).
        - Settings (`Plugins:{{name}}:Settings`): `BlockedSenders` (array of addresses, default empty), `RejectText`
          (the reply's text, default "Sender not accepted here").
        - Failure behaviour: a handler that throws or overruns the hook budget answers `451 4.3.0`; the session goes on.

        Build and install: in this folder,

            dotnet build -c Release

        writes the plugin to `{{output}}` (relative to this folder; the project's `PluginOutputDirectory`), the server's `PluginsDirectory/{{name}}`;
        `dotnet publish -c Release` writes to the same folder. Nothing is built into this source folder but `obj/`.
        Then in mta.config.json:

            "Plugins": { "{{name}}": { "Settings": { "BlockedSenders": [ "spam@example.org" ] } } }

        and restart (or reload) the server.

        """;
}
