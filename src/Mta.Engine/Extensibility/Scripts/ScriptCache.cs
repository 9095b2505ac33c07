// Keeps compiled scripts on disk, keyed by a hash of everything that shapes them, so a restart skips Roslyn.
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Mta.Abstractions;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>
/// The compile cache, <c>DATA/script-cache/</c>: per entry <c>KEY.dll</c>, <c>KEY.pdb</c> and <c>KEY.meta</c> (entry point,
/// the <c>#load</c>ed files with their hashes, and hashes of the two images). Files are replaced by rename, never
/// fsynced: a torn entry after a crash fails its hash check and is deleted and recompiled, which is all a cache needs.
/// </summary>
internal sealed class ScriptCache
{
    private const string DllExtension = ".dll";
    private const string PdbExtension = ".pdb";
    private const string MetaExtension = ".meta";

    public ScriptCache(string directory) => Directory = Path.GetFullPath(directory);

    public string Directory { get; }

    /// <summary>
    /// Identifies the host a compiled script binds to: the MVIDs of every assembly a script references, of the engine
    /// (it decides the compile options) and of the compiler. A rebuilt or upgraded host thus never loads stale code.
    /// </summary>
    private static readonly Lazy<string> HostIdentity = new(() =>
    {
        var text = new StringBuilder();
        var assemblies = ScriptReferences.AssemblyNames.Select(n => Assembly.Load(new AssemblyName(n)))
            .Append(typeof(ScriptGlobals).Assembly)
            .Append(typeof(ScriptCache).Assembly)
            .Append(typeof(CSharpCompilation).Assembly)
            .Append(typeof(CSharpScript).Assembly);
        foreach (var assembly in assemblies)
            text.Append(assembly.GetName().Name).Append(' ').Append(assembly.GetName().Version).Append(' ')
                .Append(assembly.ManifestModule.ModuleVersionId.ToString("N")).Append('\n');
        return text.ToString();
    });

    /// <summary>The hash of every <c>*.csx</c> under the scripts folder, by path relative to it (ordinal order).</summary>
    public static SortedDictionary<string, string> Snapshot(string root)
    {
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!System.IO.Directory.Exists(root)) return hashes;
        foreach (var file in System.IO.Directory.EnumerateFiles(root, "*.csx", SearchOption.AllDirectories))
        {
            if (!file.EndsWith(".csx", StringComparison.Ordinal)) continue;
            try
            {
                hashes[Relative(root, file)] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Deleted while listing, or unreadable: a compile will report it; a unique value keeps it out of any key.
                hashes[Relative(root, file)] = "unreadable:" + Guid.NewGuid().ToString("N");
            }
        }
        return hashes;
    }

    /// <summary>
    /// The cache key of a script: the host identity, the script's full path (its name and what its PDB and stack
    /// traces say), its bytes, and every helper in a sub-folder (any of them may be <c>#load</c>ed). Null when the
    /// script cannot be read.
    /// </summary>
    public static string? KeyOf(string path, string root, IReadOnlyDictionary<string, string> snapshot)
    {
        var relative = Relative(root, path);
        if (!snapshot.TryGetValue(relative, out var own) || own.StartsWith("unreadable:", StringComparison.Ordinal)) return null;
        var text = new StringBuilder(HostIdentity.Value);
        text.Append("script ").Append(Path.GetFullPath(path)).Append(' ').Append(own).Append('\n');
        foreach (var (file, hash) in snapshot)
            if (file.Contains('/', StringComparison.Ordinal)) text.Append("helper ").Append(file).Append(' ').Append(hash).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The cached compile of <paramref name="key"/>, or null. An entry that fails any check is deleted.</summary>
    public CompiledScript? TryGet(string key, string path, string root, IReadOnlyDictionary<string, string> snapshot)
    {
        var meta = PathOf(key, MetaExtension);
        if (!File.Exists(meta)) return null;
        try
        {
            var entry = JsonSerializer.Deserialize<Entry>(File.ReadAllBytes(meta));
            var image = File.ReadAllBytes(PathOf(key, DllExtension));
            var symbols = File.ReadAllBytes(PathOf(key, PdbExtension));
            // A top-level script may #load another top-level file, which the key does not cover: check those too.
            if (entry is { EntryType: { Length: > 0 }, EntryMethod: { Length: > 0 }, Files: { Count: > 0 } }
                && Hash(image) == entry.Image && Hash(symbols) == entry.Symbols
                && entry.Files.All(f => snapshot.TryGetValue(f.Key, out var now) && now == f.Value))
            {
                var files = entry.Files.Keys.Select(f => Path.GetFullPath(Path.Combine(root, f))).ToArray();
                return new CompiledScript(ScriptCompiler.NameOf(path), Path.GetFullPath(path), image, symbols, entry.EntryType, entry.EntryMethod, [], files);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
        }
        Delete(key);
        return null;
    }

    /// <summary>Stores a successful compile. The snapshot must be the one the key was made from.</summary>
    public void Put(string key, CompiledScript compiled, string root, IReadOnlyDictionary<string, string> snapshot)
    {
        if (!compiled.Succeeded || compiled.Image is null || compiled.Symbols is null) return;
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in compiled.Files)
        {
            // A loaded file outside the snapshot cannot be checked later: do not cache what cannot be validated.
            if (!snapshot.TryGetValue(Relative(root, file), out var hash)) return;
            files[Relative(root, file)] = hash;
        }
        EnsureDirectory();
        var entry = new Entry(compiled.EntryType, compiled.EntryMethod, Hash(compiled.Image), Hash(compiled.Symbols), files);
        WriteAtomically(PathOf(key, DllExtension), compiled.Image);
        WriteAtomically(PathOf(key, PdbExtension), compiled.Symbols);
        // Last: a meta file means the images before it were complete (their hashes still guard against torn writes).
        WriteAtomically(PathOf(key, MetaExtension), JsonSerializer.SerializeToUtf8Bytes(entry));
    }

    /// <summary>Deletes every file that does not belong to one of <paramref name="keys"/>, so the folder stays bounded.</summary>
    public void Prune(IReadOnlySet<string> keys)
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var file in System.IO.Directory.EnumerateFiles(Directory))
        {
            // Left-over temporary files ("KEY.dll.tmp-…") go too: their writer is gone.
            var extension = Path.GetExtension(file);
            if (extension is DllExtension or PdbExtension or MetaExtension && keys.Contains(Path.GetFileNameWithoutExtension(file))) continue;
            TryDelete(file);
        }
    }

    public void Delete(string key)
    {
        TryDelete(PathOf(key, MetaExtension));
        TryDelete(PathOf(key, DllExtension));
        TryDelete(PathOf(key, PdbExtension));
    }

    private void EnsureDirectory()
    {
        if (System.IO.Directory.Exists(Directory)) return;
        // Compiled code is loaded and run: nobody else may put an entry there.
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(Directory);
        else System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private string PathOf(string key, string extension) => Path.Combine(Directory, key + extension);

    private static string Hash(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string Relative(string root, string path) => Path.GetRelativePath(root, path).Replace('\\', '/');

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private sealed record Entry(string? EntryType, string? EntryMethod, string? Image, string? Symbols, SortedDictionary<string, string>? Files);
}
