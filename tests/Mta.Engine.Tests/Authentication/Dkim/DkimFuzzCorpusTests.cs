// Replays the DKIM fuzz corpus and any crash found (fuzz/corpus/dkim*, fuzz/crashes/dkim*) through the harness's own
// checks (fuzz/Mta.Fuzz/DkimChecks.cs, compiled into this project).
using Mta.Fuzz;

namespace Mta.Engine.Tests.Authentication.Dkim;

public sealed class DkimFuzzCorpusTests
{
    private static readonly string[] Targets = ["dkimkey", "dkimsig"];

    private static string FuzzRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return Path.Combine(dir.FullName, "fuzz");
        throw new InvalidOperationException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (var kind in new[] { "corpus", "crashes" })
        foreach (var target in Targets)
        {
            var dir = Path.Combine(FuzzRoot(), kind, target);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(target, $"{kind}/{target}/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Corpus_is_there()
    {
        foreach (var target in Targets)
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", target)));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string target, string file)
    {
        var input = File.ReadAllBytes(Path.Combine(FuzzRoot(), file));
        if (target == "dkimkey") DkimChecks.KeyRecord(input);
        else DkimChecks.Signature(input);
    }
}
