// The fixed references, imports and locked #r / #load resolvers every policy script is compiled with.
using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>
/// What a script may use. The set is fixed so that a script cannot pull in arbitrary assemblies (HTTP clients,
/// reflection emit helpers) with <c>#r</c>: policy code runs inside the SMTP session and must stay small.
/// </summary>
internal static class ScriptReferences
{
    /// <summary>Namespaces imported into every script.</summary>
    public static readonly ImmutableArray<string> Imports =
    [
        "System",
        "System.IO",
        "System.Linq",
        "System.Net",
        "System.Collections.Generic",
        "System.Threading",
        "System.Threading.Tasks",
        "System.Text.RegularExpressions",
        "Microsoft.Extensions.Configuration",
        "Microsoft.Extensions.Logging",
        "Mta.Abstractions",
        "MimeKit",
    ];

    // Implementation assemblies of the running host: a script binds to exactly the types the host passes it.
    internal static readonly string[] AssemblyNames =
    [
        "System.Private.CoreLib",
        "System.Runtime",
        "netstandard",
        "System.Collections",
        "System.Collections.Concurrent",
        "System.Linq",
        "System.Memory",
        "System.Text.RegularExpressions",
        "System.Net",
        "System.Net.Primitives",
        "System.IO",
        "System.Runtime.Extensions",
        "System.Threading",
        "System.Threading.Tasks",
        "Mta.Abstractions",
        "MimeKit",
        "Microsoft.Extensions.Configuration.Abstractions",
        "Microsoft.Extensions.Configuration.Binder",
        "Microsoft.Extensions.Primitives",
        "Microsoft.Extensions.Logging.Abstractions",
    ];

    /// <summary>The references by simple name (what a <c>#r "NAME"</c> may ask for).</summary>
    public static readonly ImmutableDictionary<string, PortableExecutableReference> ByName = Build();

    public static readonly ImmutableArray<MetadataReference> All = [.. ByName.Values];

    // A single-file `mta` is built with IncludeAllContentForSelfExtract (src/Mta/Mta.csproj): its assemblies are unpacked
    // files and Location names them; an empty Location is handled below all the same.
    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "Self-extracting single file: Location is set")]
    private static ImmutableDictionary<string, PortableExecutableReference> Build()
    {
        // Anchor the host's own assemblies so that they are loaded before they are looked up by name.
        _ = typeof(Mta.Abstractions.ScriptGlobals);
        _ = typeof(MimeKit.MimeMessage);
        _ = typeof(Microsoft.Extensions.Configuration.IConfiguration);
        _ = typeof(Microsoft.Extensions.Configuration.ConfigurationBinder);
        _ = typeof(Microsoft.Extensions.Logging.ILogger);
        var builder = ImmutableDictionary.CreateBuilder<string, PortableExecutableReference>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in AssemblyNames)
        {
            var location = Assembly.Load(new AssemblyName(name)).Location;
            // A single-file publish has no paths; the compiler then cannot see the assembly and says so in a diagnostic.
            if (location.Length == 0) continue;
            builder[name] = MetadataReference.CreateFromFile(location);
        }
        return builder.ToImmutable();
    }
}

/// <summary>Resolves <c>#r</c> only to the fixed references; anything else is a compile error (CS0006).</summary>
internal sealed class LockedMetadataResolver : MetadataReferenceResolver
{
    public static readonly LockedMetadataResolver Instance = new();

    public override ImmutableArray<PortableExecutableReference> ResolveReference(string reference, string? baseFilePath, MetadataReferenceProperties properties)
    {
        var name = reference.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) ? reference[..^4] : reference;
        return ScriptReferences.ByName.TryGetValue(name, out var found) ? [found] : [];
    }

    public override bool ResolveMissingAssemblies => false;

    public override bool Equals(object? other) => ReferenceEquals(this, other);

    public override int GetHashCode() => 1;
}

/// <summary>
/// Resolves <c>#load</c> to files under the scripts folder only: a relative path, taken from the loading file's
/// folder, that does not climb out of the root. Absolute paths and <c>..</c> escapes resolve to nothing (CS1504).
/// </summary>
internal sealed class ScriptSourceResolver(string root) : SourceReferenceResolver
{
    private readonly string _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root)) + Path.DirectorySeparatorChar;

    public override string? NormalizePath(string path, string? baseFilePath) => Resolve(path, baseFilePath);

    public override string? ResolveReference(string path, string? baseFilePath)
    {
        var resolved = Resolve(path, baseFilePath);
        return resolved is not null && File.Exists(resolved) ? resolved : null;
    }

    public override Stream OpenRead(string resolvedPath) => new FileStream(resolvedPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);

    private string? Resolve(string path, string? baseFilePath)
    {
        if (string.IsNullOrWhiteSpace(path) || Path.IsPathRooted(path)) return null;
        var baseDirectory = baseFilePath is null ? _root : Path.GetDirectoryName(Path.GetFullPath(baseFilePath)) ?? _root;
        var full = Path.GetFullPath(Path.Combine(baseDirectory, path));
        return full.StartsWith(_root, StringComparison.Ordinal) ? full : null;
    }

    public override bool Equals(object? other) => other is ScriptSourceResolver o && o._root == _root;

    public override int GetHashCode() => _root.GetHashCode(StringComparison.Ordinal);
}
