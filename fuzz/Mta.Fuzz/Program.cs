// Entry point: `Mta.Fuzz TARGET` runs under afl-fuzz (SharpFuzz), `Mta.Fuzz TARGET --replay FILE...` runs the
// checks once per file without AFL (for triage), `Mta.Fuzz TARGET --random SECONDS [CORPUSDIR]` is a plain
// in-process mutation fuzzer (no instrumentation, no AFL) for machines without afl-fuzz.
using Mta.Fuzz;
using SharpFuzz;

var targets = new Dictionary<string, Action<ReadOnlySpan<byte>>>
{
    ["command"] = Checks.Command,
    ["path"] = Checks.Path,
    ["data"] = Checks.Data,
    ["proxy"] = Checks.Proxy,
    ["dmarc"] = DmarcChecks.Record,
    ["spf"] = SpfChecks.Record,
    ["dkimkey"] = DkimChecks.KeyRecord,
    ["dkimsig"] = DkimChecks.Signature,
};

if (args.Length < 1 || !targets.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: Mta.Fuzz {string.Join('|', targets.Keys)} [--replay FILE... | --random SECONDS [CORPUSDIR]]");
    return 2;
}

if (args.Length >= 2 && args[1] == "--replay")
{
    var failed = 0;
    foreach (var file in args[2..])
    {
        try { target(File.ReadAllBytes(file)); Console.WriteLine($"ok   {file}"); }
        catch (Exception e) { failed++; Console.WriteLine($"FAIL {file}: {e}"); }
    }
    return failed == 0 ? 0 : 1;
}

if (args.Length >= 3 && args[1] == "--random")
    return RandomFuzzer.Run(target, TimeSpan.FromSeconds(double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture)),
        args.Length >= 4 ? args[3] : null, args[0]);

// Persistent mode: AFL feeds one input per iteration through shared memory; an exception is reported as a crash.
Fuzzer.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    target(ms.GetBuffer().AsSpan(0, (int)ms.Length));
});
return 0;
