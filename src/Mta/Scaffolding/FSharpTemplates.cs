// The text of the F# plugin skeleton `mta new plugin NAME --lang fsharp` writes.
namespace Mta.Scaffolding;

internal static class FSharpTemplates
{
    /// <summary>The FSharp.Core the plugin carries (the one this repository's F# plugin builds on). The host has no
    /// FSharp.Core: the plugin's copy is loaded into the plugin's own context.</summary>
    public const string FSharpCoreVersion = "11.0.101";

    public static string PluginProject(string mtaDirectory, string output, string codeFile) => $"""
        <Project Sdk="Microsoft.NET.Sdk">
          <!-- An Mta plugin in F#. `dotnet build -c Release` here writes it to the folder the server loads it from; then
               list it under Plugins in mta.config.json. -->
          <PropertyGroup>
            <TargetFramework>net10.0</TargetFramework>
            <EnableDynamicLoading>true</EnableDynamicLoading>
            <!-- FSharp.Core is pinned below rather than taken from the SDK, so every build carries the same one. -->
            <DisableImplicitFSharpCoreReference>true</DisableImplicitFSharpCoreReference>
            <!-- Versions are given here, whatever a folder above this one manages centrally. -->
            <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
            <!-- FSharp.Core ships resources for a dozen languages; the server logs in English. -->
            <SatelliteResourceLanguages>en</SatelliteResourceLanguages>
        {Templates.PluginOutputProperties(output)}
          </PropertyGroup>
          <ItemGroup>
            <Compile Include="{codeFile}" />
          </ItemGroup>
          <ItemGroup>
        {Templates.HostAssemblyReferences(mtaDirectory)}
          </ItemGroup>
          <ItemGroup>
            <!-- The plugin's own runtime: copied beside it. -->
            <PackageReference Include="FSharp.Core" Version="{FSharpCoreVersion}" />
          </ItemGroup>
        </Project>

        """;

    public static string PluginCode(string name, string className) => $$"""
        // {{name}}: an Mta plugin. The host creates this class once at start and calls Register.
        namespace {{className[..^"Plugin".Length]}}

        open System
        open System.Threading.Tasks
        open Microsoft.Extensions.Configuration
        open Microsoft.Extensions.Logging
        open Mta.Abstractions

        type {{className}}() =
            interface IMtaPlugin with
                member _.Register(context: IPluginContext) =
                    // Settings come from Plugins:{{name}}:Settings in mta.config.json.
                    let blocked =
                        context.Settings.GetSection("BlockedSenders").GetChildren()
                        |> Seq.choose (fun c -> Option.ofObj c.Value)
                        |> Set.ofSeq
                    let rejectText = context.Settings.GetValue<string>("RejectText", "Sender not accepted here")
                    context.Logger.LogInformation("{Plugin} blocks {Count} senders", context.Name, blocked.Count)

                    let isBlocked (sender: string) =
                        blocked |> Set.exists (fun b -> String.Equals(b, sender, StringComparison.OrdinalIgnoreCase))
                    let mail =
                        { new IHook<MailContext> with
                            member _.InvokeAsync(ctx, _) =
                                ValueTask<HookResult>(
                                    if isBlocked (ctx.Transaction.ReversePath.ToString()) then
                                        HookResult.Reject(rejectText, 550, "5.7.1")
                                    else
                                        HookResult.Continue) }
                    context.Hooks.Register<MailContext>($"{context.Name}/mail", mail)

        """;
}
