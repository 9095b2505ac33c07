// Replays the spf fuzz corpus and any crash the fuzzer found (fuzz/corpus/spf, fuzz/crashes/spf) through the harness's checks.
using Mta.Fuzz;

namespace Mta.Engine.Tests.Authentication.Spf;

public sealed class SpfFuzzCorpusTests
{
    private static string FuzzRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return Path.Combine(dir.FullName, "fuzz");
        throw new InvalidOperationException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string> Inputs()
    {
        var data = new TheoryData<string>();
        foreach (var kind in new[] { "corpus", "crashes" })
        {
            var dir = Path.Combine(FuzzRoot(), kind, "spf");
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add($"{kind}/spf/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Corpus_is_there() => Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", "spf")));

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string file) =>
        SpfChecks.Record(File.ReadAllBytes(Path.Combine(FuzzRoot(), file)));
}
