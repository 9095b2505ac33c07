// Checks the Turn section (TURN and ETRN policy) and names the offending key.
using System.Net;
using Mta.Abstractions;

namespace Mta.Engine.Configuration;

internal static class TurnOptionsValidator
{
    /// <summary>Adds one message per problem in <see cref="MtaOptions.Turn"/> to <paramref name="errors"/>.</summary>
    internal static void Validate(MtaOptions o, List<string> errors)
    {
        var turn = o.Turn;
        if (turn is null)
        {
            errors.Add("Turn: must not be null");
            return;
        }
        foreach (var (user, domains) in turn.Domains)
        {
            if (string.IsNullOrWhiteSpace(user)) errors.Add("Turn:Domains: a user name must not be empty");
            if (domains is null) continue;
            for (var i = 0; i < domains.Count; i++)
            {
                var d = Domain.TryParse(domains[i], out var parsed) ? parsed.Name : "";
                if (!IsDomain(d)) errors.Add($"Turn:Domains:{user}:{i}: '{domains[i]}' is not a domain name");
                // Taking a local domain's mail would hand the site's own mailboxes to that user.
                else if (o.LocalDomains.Contains(d, Domain.NameComparer))
                    errors.Add($"Turn:Domains:{user}:{i}: '{d}' is a local domain; its mail is delivered here, never turned");
            }
        }
        for (var i = 0; i < turn.EtrnNetworks.Count; i++)
        {
            if (!IPNetwork.TryParse(turn.EtrnNetworks[i], out _))
                errors.Add($"Turn:EtrnNetworks:{i}: '{turn.EtrnNetworks[i]}' is not a network in CIDR form (e.g. 192.0.2.0/24)");
        }
    }

    /// <summary>A domain name: LDH labels of 1-63 characters, at most 255 in all, no trailing dot.</summary>
    internal static bool IsDomain(string s) =>
        s.Length is > 0 and <= 255 &&
        s.Split('.').All(label => label.Length is > 0 and <= 63 && label[0] != '-' && label[^1] != '-' &&
                                  label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'));
}
