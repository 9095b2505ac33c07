// Replays the fuzz corpus and every crash the fuzzer found (fuzz/corpus/**, fuzz/crashes/**) through the SharpFuzz
// harness's own checks (fuzz/Mta.Fuzz/Checks.cs, compiled into this project).
using Mta.Fuzz;

namespace Mta.Protocol.Tests;

public class FuzzCorpusTests
{
    // Crash inputs not fixed yet: file name relative to fuzz/ (with '/') -> why the case is skipped.
    private static readonly Dictionary<string, string> KnownCrashes = new();

    private static string FuzzRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return Path.Combine(dir.FullName, "fuzz");
        throw new InvalidOperationException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        var root = FuzzRoot();
        foreach (var kind in new[] { "corpus", "crashes" })
        foreach (var target in new[] { "command", "path", "data", "proxy" })
        {
            var dir = Path.Combine(root, kind, target);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(target, $"{kind}/{target}/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Corpus_is_there()
    {
        foreach (var target in new[] { "command", "path", "data", "proxy" })
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", target)));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string target, string file)
    {
        if (KnownCrashes.TryGetValue(file, out var reason)) Assert.Skip(reason);
        var input = File.ReadAllBytes(Path.Combine(FuzzRoot(), file));
        switch (target)
        {
            // The harness's own checks: a replay here fails exactly where the fuzzer would report a crash.
            case "command": Checks.Command(input); break;
            case "path": Checks.Path(input); break;
            case "proxy": Checks.Proxy(input); break;
            default: Checks.Data(input); break;
        }
    }
}
