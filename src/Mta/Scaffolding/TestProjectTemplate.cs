// `mta new test`: a test project for a site's scripts and plugins that runs with plain `dotnet test`, outside this repository.
namespace Mta.Scaffolding;

internal static class TestProjectTemplate
{
    /// <summary>The xunit v3 version the template pins (the one this repository's tests run on).</summary>
    public const string XunitVersion = "4.0.2";

    /// <summary>The Mta.Testing package version matching this mta.</summary>
    public static string MtaTestingVersion => typeof(Mta.Testing.PolicyTestServer).Assembly.GetName().Version!.ToString(3);

    /// <summary>The files to write, by path relative to the project folder.</summary>
    /// <param name="name">The project's name.</param>
    /// <param name="siteRoot">The site folder (its <c>scripts</c> folder is copied into the test output), relative to the project folder.</param>
    /// <param name="feed">The local package folder holding Mta.Testing (from <c>dotnet pack</c>), or null for none.</param>
    /// <param name="projectReference">A path to Mta.Testing.csproj to reference instead of the package, or null.</param>
    /// <param name="packageVersion">The Mta.Testing version to reference; null for <see cref="MtaTestingVersion"/>.</param>
    public static IReadOnlyList<(string Path, string Content)> Files(string name, string siteRoot, string? feed, string? projectReference,
        string? packageVersion = null)
    {
        var files = new List<(string, string)>
        {
            (name + ".csproj", Project(siteRoot, projectReference, packageVersion ?? MtaTestingVersion)),
            // dotnet test refuses xunit v3 4.x on the VSTest runner: the project runs on Microsoft.Testing.Platform.
            ("global.json", """
                {
                  "test": { "runner": "Microsoft.Testing.Platform" }
                }

                """),
            ("README.md", Readme(name, feed, projectReference)),
        };
        if (feed is not null) files.Add(("nuget.config", NuGetConfig(feed)));
        foreach (var example in new[] { "BlockSenderScriptTests.cs", "BlockSenderScriptHandlerTests.cs", "RecipientAllowListPlugin.cs", "RecipientAllowListPluginTests.cs" })
            files.Add((example, Resource(example)));
        files.Add((Path.Combine("samples", "block-sender.csx"), Resource("block-sender.csx")));
        return files;
    }

    private static string Resource(string file)
    {
        using var stream = typeof(TestProjectTemplate).Assembly.GetManifestResourceStream("testing/" + file)
            ?? throw new InvalidOperationException($"testing/{file} is not embedded in mta");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string Project(string siteRoot, string? projectReference, string packageVersion)
    {
        var reference = projectReference is null
            ? $"""    <PackageReference Include="Mta.Testing" Version="{packageVersion}" />"""
            : $"""    <ProjectReference Include="{projectReference}" />""";
        return $$"""
            <Project Sdk="Microsoft.NET.Sdk">
              <!-- Tests of this site's scripts and plugins: `dotnet test` here. Guide: docs/testing.md of Mta. -->
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <OutputType>Exe</OutputType>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <IsTestProject>true</IsTestProject>
                <IsPackable>false</IsPackable>
                <!-- Versions are given here, whatever a folder above this one manages centrally. -->
                <ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="xunit.v3" Version="{{XunitVersion}}" />
            {{reference}}
              </ItemGroup>
              <ItemGroup>
                <!-- The site's scripts, as the server loads them (scripts/NAME.csx in the test output), and the samples. -->
                <None Include="{{siteRoot}}/scripts/**/*.csx" LinkBase="scripts" CopyToOutputDirectory="PreserveNewest" />
                <None Update="samples/*.csx" CopyToOutputDirectory="PreserveNewest" />
              </ItemGroup>
              <!-- A plugin under test: reference its project, e.g.
              <ItemGroup>
                <ProjectReference Include="{{siteRoot}}/plugin-src/NAME/NAME.csproj" />
              </ItemGroup> -->
            </Project>

            """;
    }

    private static string NuGetConfig(string feed) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <!-- Mta.Testing comes from a local folder: `dotnet pack -c Release -o {feed}` at the root of the Mta sources.
             The other packages come from the sources already configured (nuget.org by default). -->
        <configuration>
          <packageSources>
            <add key="mta-local" value="{feed}" />
          </packageSources>
        </configuration>

        """;

    private static string Readme(string name, string? feed, string? projectReference) => $"""
        # {name}

        Tests for this site's policy scripts and plugins, on xunit v3 and Microsoft.Testing.Platform. Run them with

            dotnet test

        in this folder. {(projectReference is not null
            ? $"Mta.Testing is referenced as a project: `{projectReference}`."
            : $"Mta.Testing (version {MtaTestingVersion}) comes from the local package folder `{feed}` named in nuget.config; fill it with `dotnet pack -c Release -o {feed}` at the root of the Mta sources.")}

        - `BlockSenderScriptTests.cs`: a script (`samples/block-sender.csx`) loaded by a real server on 127.0.0.1, driven by a raw
          SMTP client. Your own scripts are copied to `scripts/` in the test output: `setup.Scripts.Add(Path.Combine(AppContext.BaseDirectory, "scripts", "NAME.csx"))`.
        - `BlockSenderScriptHandlerTests.cs`: the same script's handler called with hand-built contexts (`ScriptUnderTest`),
          no server, no sockets.
        - `RecipientAllowListPluginTests.cs`: a plugin's handler called with hand-built contexts, no sockets. For your
          plugin, reference its project (see the comment in `{name}.csproj`).

        The guide: docs/testing.md in the Mta sources.

        """;
}
