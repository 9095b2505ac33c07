// Log event ids are an operator interface (log filters): each is unique, non-zero and defined in LogEvents.
using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Tests;

public sealed partial class LogEventIdTests
{
    private const BindingFlags AllMethods =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    // The web host's assembly logs with the engine's ids. GetTypes lists nested types too, so the private Log classes inside sessions and servers are covered.
    private static List<(string Method, int EventId)> EngineLogMethods() =>
        (from assembly in new[] { typeof(LogEvents).Assembly, typeof(Mta.Web.Hosting.MtaWebServer).Assembly }
         from type in assembly.GetTypes()
         from method in type.GetMethods(AllMethods)
         let attribute = method.GetCustomAttribute<LoggerMessageAttribute>()
         where attribute is not null
         select ($"{type.FullName}.{method.Name}", attribute.EventId)).ToList();

    private static List<(string Name, int Value)> DefinedIds() =>
        (from area in typeof(LogEvents).GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public)
         from field in area.GetFields(BindingFlags.Public | BindingFlags.Static)
         where field.IsLiteral && field.FieldType == typeof(int)
         select ($"LogEvents.{area.Name}.{field.Name}", (int)field.GetRawConstantValue()!)).ToList();

    [Fact]
    public void The_attribute_is_visible_by_reflection()
    {
        // Guards the other tests: if the generator ever stripped the attribute, they would pass on an empty list.
        Assert.True(EngineLogMethods().Count > 100);
    }

    [Fact]
    public void Every_engine_event_id_is_unique_and_non_zero()
    {
        var methods = EngineLogMethods();

        AssertNone(methods.Where(m => m.EventId <= 0).Select(m => m.Method));
        var repeated = methods.GroupBy(m => m.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(m => m.Method))}");
        AssertNone(repeated);
    }

    [Fact]
    public void Every_engine_event_id_is_a_constant_of_LogEvents_and_every_constant_is_used()
    {
        var defined = DefinedIds();
        var used = EngineLogMethods().Select(m => m.EventId).ToHashSet();

        AssertNone(defined.GroupBy(d => d.Value).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(d => d.Name))}"));
        AssertNone(EngineLogMethods().Where(m => !defined.Any(d => d.Value == m.EventId))
            .Select(m => $"{m.Method} uses {m.EventId}, which LogEvents does not define"));
        AssertNone(defined.Where(d => !used.Contains(d.Value)).Select(d => $"{d.Name} is not used"));
    }

    [Fact]
    public void No_LoggerMessage_in_the_sources_gives_its_event_id_as_a_number()
    {
        // The CLI host and the plugins are not referenced by this project, so their sources are read instead; a number
        // there, or in the engine, is an id outside the one place that keeps them apart.
        var root = RepositoryRoot();
        var literals =
            from folder in new[] { "src", "plugins" }
            from file in Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories)
            where !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
            from Match match in LiteralEventId().Matches(File.ReadAllText(file))
            select $"{Path.GetRelativePath(root, file)}: EventId = {match.Groups[1].Value}";

        AssertNone(literals);
    }

    // Assert.Empty cuts long strings short; the failure must name every method and id in full.
    private static void AssertNone(IEnumerable<string> problems)
    {
        var list = problems.ToList();
        if (list.Count > 0) Assert.Fail(string.Join(Environment.NewLine, list));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Mta.sln"))) return dir.FullName;
        throw new InvalidOperationException("Mta.sln not found above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"LoggerMessage\s*\([^)]*?EventId\s*=\s*(-?\d+)")]
    private static partial Regex LiteralEventId();
}
