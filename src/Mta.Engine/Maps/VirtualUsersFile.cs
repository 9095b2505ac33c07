// Parses a virtual domain's users file: one mailbox name a line.
using Mta.Engine.Delivery;

namespace Mta.Engine.Maps;

/// <summary>The parser of <c>Virtual:Domains:NAME:UsersFile</c>: one mailbox name (or <c>name@</c> the domain) a line.</summary>
public static class VirtualUsersFile
{
    /// <summary>Parses the file at <paramref name="path"/> for <paramref name="domain"/>.</summary>
    public static IReadOnlySet<string> Parse(string path, string domain)
    {
        using var reader = new StreamReader(path);
        return Parse(reader, path, domain);
    }

    /// <summary>Parses <paramref name="reader"/>; errors name <paramref name="name"/> and the line.</summary>
    public static IReadOnlySet<string> Parse(TextReader reader, string name, string domain)
    {
        var users = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in MapFile.Read(reader, name))
        {
            if (line.Value.Length > 0) throw MapFile.Error(name, line.Number, "one mailbox name a line");
            var user = line.Key;
            var at = user.LastIndexOf('@');
            if (at >= 0)
            {
                if (!string.Equals(MapFile.NormalizeDomain(user[(at + 1)..]), MapFile.NormalizeDomain(domain), StringComparison.OrdinalIgnoreCase))
                    throw MapFile.Error(name, line.Number, $"'{user}' is not in {domain}");
                user = user[..at];
            }
            if (!MailboxNames.IsValid(user)) throw MapFile.Error(name, line.Number, $"'{user}' is not a usable mailbox name ({MailboxNames.Rule})");
            users.Add(user);
        }
        return users;
    }
}
