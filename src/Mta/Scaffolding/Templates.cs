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

    public static string PluginProject(string mtaDirectory)
    {
        var dir = mtaDirectory.TrimEnd('/', '\\');
        string Shared(string assembly) => $"""
                <Reference Include="{assembly}">
                  <HintPath>{Path.Combine(dir, assembly + ".dll")}</HintPath>
                  <!-- The host provides this assembly: a private copy would make the plugin's hook types differ from the host's. -->
                  <Private>false</Private>
                </Reference>
            """;
        return $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <!-- An Mta plugin. Build: dotnet publish -c Release -o <PluginsDirectory>/<name> ; then list it under Plugins in mta.config.json. -->
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <EnableDynamicLoading>true</EnableDynamicLoading>
              </PropertyGroup>
              <ItemGroup>
            {Shared("Mta.Abstractions")}
            {Shared("MimeKit")}
            {Shared("Microsoft.Extensions.Configuration.Abstractions")}
            {Shared("Microsoft.Extensions.Logging.Abstractions")}
            {Shared("Microsoft.Extensions.Primitives")}
              </ItemGroup>
            </Project>

            """;
    }

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
                context.Logger.LogInformation("{Plugin} blocks {Count} senders", context.Name, blocked.Length);

                context.Hooks.Register<MailContext>($"{context.Name}/mail", (ctx, ct) =>
                    ValueTask.FromResult(blocked.Contains(ctx.Transaction.ReversePath.ToString(), StringComparer.OrdinalIgnoreCase)
                        ? HookResult.Reject("Sender not accepted here", 550, "5.7.1")
                        : HookResult.Continue));
            }
        }

        """;

    public static string PluginReadme(string name) => $$"""
        # {{name}}

        An Mta plugin.

        - Hooks: `mail` (refuses senders listed in `BlockedSenders`).
        - Settings (`Plugins:{{name}}:Settings`): `BlockedSenders` (array of addresses, default empty).
        - Failure behaviour: a handler that throws or overruns the hook budget answers `451 4.3.0`; the session goes on.

        Build and install:

            dotnet publish -c Release -o <PluginsDirectory>/{{name}}

        then in mta.config.json:

            "Plugins": { "{{name}}": { "Settings": { "BlockedSenders": [ "spam@example.org" ] } } }

        """;
}
