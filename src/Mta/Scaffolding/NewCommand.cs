// `mta new plugin NAME` and `mta new script HOOK NAME`: working skeletons to start a policy from.
using System.CommandLine;
using System.Text.RegularExpressions;

namespace Mta.Scaffolding;

public static partial class NewCommand
{
    public static Command Create()
    {
        var directory = new Option<DirectoryInfo?>("--directory", "-d") { Description = "Where to write (default: ./plugin-src/NAME or ./scripts)" };
        var force = new Option<bool>("--force") { Description = "Overwrite existing files" };

        var pluginName = new Argument<string>("NAME") { Description = "Plugin name: letters, digits, '.', '-', '_'" };
        var language = new Option<string>("--lang") { Description = "The plugin's language", DefaultValueFactory = _ => "csharp" };
        language.AcceptOnlyFromAmong("csharp", "fsharp");
        var pluginOutput = new Option<DirectoryInfo?>("--output", "-o") { Description = "Where its build goes: the server's plugin folder (default: ./plugins/NAME)" };
        var plugin = new Command("plugin", "Write a C# or F# plugin project that builds against this Mta's Mta.Abstractions into the plugins folder")
        {
            pluginName, directory, force, language, pluginOutput,
        };
        plugin.SetAction(parse => Run(() => WritePlugin(parse.GetValue(pluginName)!, parse.GetValue(directory)?.FullName, parse.GetValue(force),
            parse.GetValue(language) == "fsharp", parse.GetValue(pluginOutput)?.FullName)));

        var hook = new Argument<string>("HOOK") { Description = "Hook name: " + string.Join(", ", HookNames.All.Select(h => h.Name)) };
        var scriptName = new Argument<string>("NAME") { Description = "Script name (the file is NAME.csx)" };
        var script = new Command("script", "Write a C# policy script (.csx) with a handler for HOOK") { hook, scriptName, directory, force };
        script.SetAction(parse => Run(() => WriteScript(parse.GetValue(hook)!, parse.GetValue(scriptName)!, parse.GetValue(directory)?.FullName, parse.GetValue(force))));

        var testName = new Argument<string>("NAME") { Description = "Test project name", Arity = ArgumentArity.ZeroOrOne, DefaultValueFactory = _ => "SiteTests" };
        var feed = new Option<DirectoryInfo?>("--feed") { Description = "Local package folder holding Mta.Testing (dotnet pack -o DIR); written into nuget.config" };
        var reference = new Option<FileInfo?>("--project-reference") { Description = "Reference this Mta.Testing.csproj instead of the package" };
        var packageVersion = new Option<string?>("--package-version") { Description = "The Mta.Testing version to reference (default: this mta's)" };
        var testProject = new Command("test", "Write a test project (xunit v3) for this site's scripts and plugins, with example tests")
        {
            testName, directory, force, feed, reference, packageVersion,
        };
        testProject.SetAction(parse => Run(() => WriteTestProject(parse.GetValue(testName)!, parse.GetValue(directory)?.FullName,
            parse.GetValue(feed)?.FullName, parse.GetValue(reference)?.FullName, parse.GetValue(force), parse.GetValue(packageVersion))));

        return new Command("new", "Write a skeleton plugin, script or test project") { plugin, script, testProject };
    }

    private static int Run(Func<IReadOnlyList<string>> write)
    {
        try
        {
            foreach (var path in write()) Console.WriteLine($"wrote {path}");
            return 0;
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 1;
        }
    }

    public static IReadOnlyList<string> WriteScript(string hook, string name, string? directory, bool force)
    {
        if (!HookNames.TryGet(hook, out var context))
            throw new ArgumentException($"unknown hook '{hook}'; one of: {string.Join(", ", HookNames.All.Select(h => h.Name))}");
        if (!ValidName().IsMatch(name)) throw new ArgumentException($"'{name}' is not a valid script name (letters, digits, '.', '-', '_')");
        var folder = directory ?? Path.GetFullPath("scripts");
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name + ".csx");
        WriteNew(path, Templates.Script(context, HookNames.All.First(h => h.Context == context).Meaning), force);
        return [path];
    }

    /// <summary>Writes the plugin's sources to <paramref name="directory"/> (default <c>./plugin-src/NAME</c>), its
    /// project set to build into <paramref name="output"/> (default <c>./plugins/NAME</c>, where the server loads it).</summary>
    public static IReadOnlyList<string> WritePlugin(string name, string? directory, bool force, bool fsharp = false, string? output = null)
    {
        if (!ValidName().IsMatch(name)) throw new ArgumentException($"'{name}' is not a valid plugin name (letters, digits, '.', '-', '_')");
        var folder = Path.GetFullPath(directory ?? Path.Combine("plugin-src", name));
        var target = Path.GetFullPath(output ?? Path.Combine("plugins", name));
        if (IsSameOrUnder(target, folder))
            throw new ArgumentException($"the build output {target} is inside the plugin's sources {folder}: choose an output folder elsewhere (--output), such as the server's plugins/{name}");
        if (IsSameOrUnder(folder, target))
            throw new ArgumentException($"the plugin's sources {folder} are inside its build output {target}: choose a source folder elsewhere (--directory), such as plugin-src/{name}");
        // Two project files in one folder make `dotnet build` there fail, so --force never adds the other language's.
        var otherProject = Path.Combine(folder, name + (fsharp ? ".csproj" : ".fsproj"));
        if (File.Exists(otherProject))
            throw new IOException($"{otherProject} exists: {folder} holds a {(fsharp ? "C#" : "F#")} plugin; remove it or choose another folder (--directory)");
        Directory.CreateDirectory(folder);
        var className = string.Concat(name.Split('.', '-', '_').Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..])) + "Plugin";
        var relativeOutput = Path.GetRelativePath(folder, target);
        var (project, projectText) = fsharp
            ? (name + ".fsproj", FSharpTemplates.PluginProject(AppContext.BaseDirectory, relativeOutput, className + ".fs"))
            : (name + ".csproj", Templates.PluginProject(AppContext.BaseDirectory, relativeOutput));
        var (code, codeText) = fsharp
            ? (className + ".fs", FSharpTemplates.PluginCode(name, className))
            : (className + ".cs", Templates.PluginCode(name, className));
        var files = new[]
        {
            (Path.Combine(folder, project), projectText),
            (Path.Combine(folder, code), codeText),
            (Path.Combine(folder, "README.md"), Templates.PluginReadme(name, fsharp ? "F#" : "C#", relativeOutput.Replace('\\', '/'))),
        };
        foreach (var (path, text) in files) WriteNew(path, text, force);
        return [.. files.Select(f => f.Item1)];
    }

    private static bool IsSameOrUnder(string path, string folder)
    {
        var relative = Path.GetRelativePath(folder, path);
        return relative == "." || (!Path.IsPathRooted(relative) && relative != ".." && !relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal));
    }

    /// <summary>Writes the test project to <paramref name="directory"/> (default <c>./tests/NAME</c>, the working
    /// directory being the site's folder). Without <paramref name="feed"/> or <paramref name="projectReference"/> the
    /// package is looked for in <c>./packages</c>.</summary>
    public static IReadOnlyList<string> WriteTestProject(string name, string? directory, string? feed, string? projectReference, bool force,
        string? packageVersion = null)
    {
        if (!ValidName().IsMatch(name)) throw new ArgumentException($"'{name}' is not a valid project name (letters, digits, '.', '-', '_')");
        var folder = directory ?? Path.GetFullPath(Path.Combine("tests", name));
        var site = Directory.GetCurrentDirectory();
        Directory.CreateDirectory(folder);
        if (projectReference is null) feed ??= Path.GetFullPath("packages");
        var written = new List<string>();
        foreach (var (path, content) in TestProjectTemplate.Files(name, Path.GetRelativePath(folder, site), feed, projectReference, packageVersion))
        {
            var full = Path.Combine(folder, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            WriteNew(full, content, force);
            written.Add(full);
        }
        return written;
    }

    private static void WriteNew(string path, string content, bool force)
    {
        if (File.Exists(path) && !force) throw new IOException($"{path} exists (use --force to overwrite)");
        File.WriteAllText(path, content);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex ValidName();
}
