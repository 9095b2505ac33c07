// Where in a script an exception was thrown, read from its stack trace (scripts are compiled with their path and a PDB).
using System.Diagnostics;
using System.Globalization;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>Names the script line an exception came from, for log lines an author acts on.</summary>
public static class ScriptErrors
{
    /// <summary>
    /// <c> (at FILE:line N)</c> for the innermost stack frame in a script file (<paramref name="scriptPath"/> when given,
    /// else any <c>.csx</c>, e.g. a <c>#load</c>-ed helper), or an empty string when no frame is in a script.
    /// </summary>
    public static string WhereIn(Exception exception, string? scriptPath = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            var frames = new StackTrace(e, fNeedFileInfo: true).GetFrames();
            var inScript = frames.FirstOrDefault(f => string.Equals(f.GetFileName(), scriptPath, StringComparison.Ordinal))
                ?? frames.FirstOrDefault(f => f.GetFileName()?.EndsWith(".csx", StringComparison.Ordinal) == true);
            if (inScript is not null && inScript.GetFileLineNumber() > 0)
                return string.Create(CultureInfo.InvariantCulture, $" (at {inScript.GetFileName()}:line {inScript.GetFileLineNumber()})");
        }
        return "";
    }
}
