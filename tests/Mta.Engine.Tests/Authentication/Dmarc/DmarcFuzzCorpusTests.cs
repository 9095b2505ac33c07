// Replays the dmarc fuzz corpus and any crash found for it (fuzz/corpus/dmarc, fuzz/crashes/dmarc) through the
// fuzz target's own checks (fuzz/Mta.Fuzz/DmarcChecks.cs, compiled into this project).
using Mta.Fuzz;

namespace Mta.Engine.Tests.Authentication.Dmarc;

public class DmarcFuzzCorpusTests
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
            var dir = Path.Combine(FuzzRoot(), kind, "dmarc");
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add($"{kind}/dmarc/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Corpus_is_there() => Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", "dmarc")));

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string file) =>
        DmarcChecks.Record(File.ReadAllBytes(Path.Combine(FuzzRoot(), file)));
}
