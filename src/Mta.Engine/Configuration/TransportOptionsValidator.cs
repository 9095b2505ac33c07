// Checks the Transports section (pipe transports) and Mailboxes:HomeMaildir, naming the offending key.
using Mta.Abstractions;

namespace Mta.Engine.Configuration;

internal static class TransportOptionsValidator
{
    private static readonly TimeSpan MaxTimeLimit = TimeSpan.FromDays(1);

    /// <summary>Adds one message per problem in <see cref="MtaOptions.Transports"/> and
    /// <see cref="MailboxOptions.HomeMaildir"/> to <paramref name="errors"/>.</summary>
    internal static void Validate(MtaOptions o, List<string> errors)
    {
        void Check(bool ok, string key, string why) { if (!ok) errors.Add($"{key}: {why}"); }

        var home = o.Mailboxes.HomeMaildir;
        Check(home is null || (home.Trim().Length > 0 && !Path.IsPathRooted(home) && !home.Split('/').Contains("..")),
            "Mailboxes:HomeMaildir", $"'{home}' must be a path inside the home folder (e.g. Maildir), not absolute and without '..'");

        var t = o.Transports;
        if (t is null)
        {
            errors.Add("Transports: must not be null");
            return;
        }
        Check(t.CommandTimeLimit > TimeSpan.Zero && t.CommandTimeLimit <= MaxTimeLimit, "Transports:CommandTimeLimit", "must be positive and at most 1 day");
        var owner = new Dictionary<string, string>(Domain.NameComparer);
        foreach (var (name, pipe) in t.Pipes)
        {
            var key = $"Transports:Pipes:{name}";
            Check(MtaOptionsValidator.IsMailboxName(name), key, "a transport name may hold letters, digits, . _ - + only");
            if (pipe is null)
            {
                errors.Add($"{key}: must not be null");
                continue;
            }
            Check(!string.IsNullOrWhiteSpace(pipe.Command), $"{key}:Command", "must not be empty");
            // A command fed mail from the network must never run with the server's full rights.
            Check(!string.IsNullOrWhiteSpace(pipe.User) && pipe.User != "root", $"{key}:User", $"'{pipe.User}' cannot run a command: name an unprivileged account");
            Check(pipe.TimeLimit is null || (pipe.TimeLimit > TimeSpan.Zero && pipe.TimeLimit <= MaxTimeLimit), $"{key}:TimeLimit", "must be positive and at most 1 day");
            for (var i = 0; i < pipe.Domains.Count; i++)
            {
                var d = Domain.TryParse(pipe.Domains[i], out var parsed) ? parsed.Name : "";
                if (!TurnOptionsValidator.IsDomain(d)) errors.Add($"{key}:Domains:{i}: '{pipe.Domains[i]}' is not a domain name");
                else if (o.LocalDomains.Contains(d, Domain.NameComparer))
                    errors.Add($"{key}:Domains:{i}: '{d}' is a local domain; its mail goes to mailboxes, not to a transport");
                else if (!owner.TryAdd(d, name))
                    errors.Add($"{key}:Domains:{i}: '{d}' is already the domain of transport '{owner[d]}'");
            }
        }
    }
}
