// Checks the Terminal section, naming the offending key, as MtaOptionsValidator does for the rest.
namespace Mta.Engine.Configuration;

internal static class TerminalOptionsValidator
{
    /// <summary>Adds one <c>Key:Path: why</c> message per problem of <see cref="MtaOptions.Terminal"/> to <paramref name="errors"/>.</summary>
    internal static void Validate(MtaOptions o, List<string> errors)
    {
        void Check(bool ok, string key, string why) { if (!ok) errors.Add($"{key}: {why}"); }

        var t = o.Terminal;
        if (t is null)
        {
            errors.Add("Terminal: must be an object");
            return;
        }
        Check(t.MaxTextBytes is >= 256 and <= 1024 * 1024, "Terminal:MaxTextBytes", "must be between 256 and 1048576");
        Check(t.SinkTimeout >= TimeSpan.FromMilliseconds(100) && t.SinkTimeout <= TimeSpan.FromMinutes(1), "Terminal:SinkTimeout",
            "must be between 100 ms and 1 minute");
        if (t.Tty is { } tty)
        {
            Check(!string.IsNullOrWhiteSpace(tty.UtmpPath), "Terminal:Tty:UtmpPath", "must not be empty");
            Check(!string.IsNullOrWhiteSpace(tty.DevDirectory), "Terminal:Tty:DevDirectory", "must not be empty");
            Check(tty.WriteTimeout >= TimeSpan.FromMilliseconds(10) && tty.WriteTimeout <= TimeSpan.FromSeconds(30), "Terminal:Tty:WriteTimeout",
                "must be between 10 ms and 30 seconds");
            Check(tty.WriteTimeout < t.SinkTimeout, "Terminal:Tty:WriteTimeout", "must be shorter than Terminal:SinkTimeout (the limit of the whole sink)");
        }
        else
        {
            errors.Add("Terminal:Tty: must be an object");
        }
        foreach (var (user, token) in t.Tokens ?? [])
        {
            Check(MtaOptionsValidator.IsMailboxName(user), $"Terminal:Tokens:{user}", "a key is a mailbox user (letters, digits, . _ - + only, not starting with a dot)");
            // Short tokens could be guessed by any local user, who can all reach the control socket.
            Check(token is { Length: >= 16 } && !token.Any(char.IsControl), $"Terminal:Tokens:{user}", "a token must be at least 16 characters, without control characters");
        }
    }
}
