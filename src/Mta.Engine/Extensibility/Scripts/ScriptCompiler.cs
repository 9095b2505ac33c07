// Compiles one .csx policy script with Roslyn into an in-memory assembly image, or into the errors that stop it.
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Emit;
using Microsoft.CodeAnalysis.Scripting;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>A compiled script: an assembly image and where its entry point is, or the compile errors.</summary>
/// <param name="Name">The script name (file name without <c>.csx</c>).</param>
/// <param name="Path">The script file's full path.</param>
/// <param name="Image">The emitted assembly, null when <paramref name="Errors"/> is not empty.</param>
/// <param name="Symbols">The portable PDB, so exceptions name script lines.</param>
/// <param name="EntryType">Metadata name of the submission class.</param>
/// <param name="EntryMethod">Metadata name of its factory method.</param>
/// <param name="Errors">Each error as <c>FILE(LINE,COL): error CSxxxx: MESSAGE</c>.</param>
/// <param name="Files">The script and every file it <c>#load</c>s (a change to any of them reloads it).</param>
public sealed record CompiledScript(string Name, string Path, byte[]? Image, byte[]? Symbols, string? EntryType, string? EntryMethod,
    IReadOnlyList<string> Errors, IReadOnlyList<string> Files)
{
    public bool Succeeded => Errors.Count == 0;
}

/// <summary>Compiles policy scripts (the host loads them; <c>mta check</c> checks them through <see cref="ScriptHost.CheckAsync"/>).</summary>
public static class ScriptCompiler
{
    /// <summary>The script files of a scripts folder: every <c>*.csx</c> directly in it, in file-name order.
    /// Sub-folders hold <c>#load</c>-able helpers only.</summary>
    public static IReadOnlyList<string> ScriptFiles(string directory)
        => Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.csx", SearchOption.TopDirectoryOnly)
                .Where(f => f.EndsWith(".csx", StringComparison.Ordinal)) // GetFiles' pattern also matches "*.csx~"
                .Select(Path.GetFullPath)
                .OrderBy(f => System.IO.Path.GetFileName(f), StringComparer.Ordinal)
                .ToArray()
            : [];

    /// <summary>The script name of a file: its name without <c>.csx</c>.</summary>
    public static string NameOf(string path) => System.IO.Path.GetFileNameWithoutExtension(path);

    /// <summary>Compiles one script file. Never throws for a script's faults: they come back as errors.</summary>
    /// <param name="path">The <c>.csx</c> file.</param>
    /// <param name="root">The scripts folder: the only place <c>#load</c> may read from.</param>
    /// <param name="cancellationToken">Cancels the compilation.</param>
    public static CompiledScript Compile(string path, string root, CancellationToken cancellationToken = default)
    {
        path = System.IO.Path.GetFullPath(path);
        var name = NameOf(path);
        string code;
        try
        {
            code = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Failed(name, path, $"{path}(1,1): error MTA0001: cannot read the script: {ex.Message}");
        }

        var options = ScriptOptions.Default
            .WithReferences(ScriptReferences.All)
            .WithImports(ScriptReferences.Imports)
            .WithMetadataResolver(LockedMetadataResolver.Instance)
            .WithSourceResolver(new ScriptSourceResolver(root))
            .WithFilePath(path)
            .WithFileEncoding(Encoding.UTF8)
            .WithEmitDebugInformation(true)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithAllowUnsafe(false)
            .WithLanguageVersion(LanguageVersion.Latest);
        var compilation = CSharpScript.Create(code, options, globalsType: typeof(ScriptGlobals)).GetCompilation();

        using var image = new MemoryStream();
        using var symbols = new MemoryStream();
        var emitted = compilation.Emit(image, symbols,
            options: new EmitOptions(debugInformationFormat: DebugInformationFormat.PortablePdb), cancellationToken: cancellationToken);
        var files = compilation.SyntaxTrees.Select(t => t.FilePath).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
        var errors = emitted.Diagnostics
            .Where(d => d.Severity == DiagnosticSeverity.Error)
            .OrderBy(d => d.Location.SourceTree?.FilePath, StringComparer.Ordinal).ThenBy(d => d.Location.SourceSpan.Start)
            .Select(d => Format(d, path))
            .Distinct()
            .ToArray();
        if (!emitted.Success || errors.Length > 0)
            return new CompiledScript(name, path, null, null, null, null, errors.Length > 0 ? errors : [$"{path}(1,1): error MTA0002: the script did not compile"], files);

        var entry = compilation.GetEntryPoint(cancellationToken)
            ?? throw new InvalidOperationException($"Roslyn gave script {path} no entry point");
        return new CompiledScript(name, path, image.ToArray(), symbols.ToArray(), entry.ContainingType.MetadataName, entry.MetadataName, [], files);
    }

    /// <summary>Formats a diagnostic the way compilers and editors print them: <c>FILE(LINE,COL): error ID: MESSAGE</c>.</summary>
    private static string Format(Diagnostic diagnostic, string scriptPath)
    {
        var span = diagnostic.Location.GetMappedLineSpan();
        var file = span.IsValid && span.Path.Length > 0 ? span.Path : scriptPath;
        var (line, column) = span.IsValid ? (span.StartLinePosition.Line + 1, span.StartLinePosition.Character + 1) : (1, 1);
        var hint = diagnostic.Id switch
        {
            "CS0006" => $" (#r may name only: {string.Join(", ", ScriptReferences.ByName.Keys.Order(StringComparer.Ordinal))})",
            "CS1504" => " (#load takes a relative path to a file inside the scripts folder)",
            _ => "",
        };
        return $"{file}({line},{column}): error {diagnostic.Id}: {diagnostic.GetMessage(CultureInfo.InvariantCulture)}{hint}";
    }

    private static CompiledScript Failed(string name, string path, string error) => new(name, path, null, null, null, null, [error], [path]);
}
