// Where in a script an exception was thrown, read from its stack trace (scripts are compiled with their path and a PDB).
using System.Text.RegularExpressions;

namespace Mta.Engine.Extensibility.Scripts;

/// <summary>Names the script line an exception came from, for log lines an author acts on.</summary>
public static partial class ScriptErrors
{
    /// <summary>
    /// <c> (at FILE:line N)</c> for the innermost stack frame in a script file (the script or a <c>#load</c>-ed helper:
    /// the line that threw), or an empty string when no frame is in a script (a plugin threw).
    /// </summary>
    public static string WhereIn(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // The text, not new StackTrace(e): an exception awaited across threads (a handler run by Task.Run) keeps the
            // frames of where it was thrown only as text.
            // Frames are listed from the throw outwards, so the first match is the innermost.
            var inScript = ScriptFrame().Match(e.StackTrace ?? "");
            if (inScript.Success) return $" (at {inScript.Groups["file"].Value}:line {inScript.Groups["line"].Value})";
        }
        return "";
    }

    [GeneratedRegex(@" in (?<file>.+?\.csx):line (?<line>\d+)\s*$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex ScriptFrame();
}
