// Replays the mail-authentication fuzz corpora and any crash found (fuzz/corpus/TARGET, fuzz/crashes/TARGET) through
// the fuzz targets' own checks (fuzz/Mta.Fuzz/SpfChecks.cs, DmarcChecks.cs, DkimChecks.cs, compiled into this project).
using Mta.Fuzz;

namespace Mta.Engine.Tests.Authentication.Fuzz;

public sealed class AuthenticationFuzzCorpusTests
{
    private static readonly Dictionary<string, Action<byte[]>> Targets = new()
    {
        ["spf"] = input => SpfChecks.Record(input),
        ["dmarc"] = input => DmarcChecks.Record(input),
        ["dkimkey"] = input => DkimChecks.KeyRecord(input),
        ["dkimsig"] = input => DkimChecks.Signature(input),
    };

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
        foreach (var target in Targets.Keys)
        {
            var dir = Path.Combine(FuzzRoot(), kind, target);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(target, $"{kind}/{target}/{Path.GetFileName(file)}");
        }
        return data;
    }

    [Fact]
    public void Every_target_has_a_corpus()
    {
        foreach (var target in Targets.Keys)
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(FuzzRoot(), "corpus", target)));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Fuzz_input_passes_the_harness_checks(string target, string file) =>
        Targets[target](File.ReadAllBytes(Path.Combine(FuzzRoot(), file)));
}
