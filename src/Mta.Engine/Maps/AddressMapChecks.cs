// `mta check` for the address maps: every virtual, canonical and relay recipients file read and parsed as `mta run` would.
using Mta.Engine.Configuration;
using Mta.Engine.Routing;

namespace Mta.Engine.Maps;

public static class AddressMapChecks
{
    /// <summary>One message per map file that is missing or does not parse (naming its key, file and line).</summary>
    public static IReadOnlyList<string> Check(MtaOptions options)
    {
        var paths = new MtaPaths(options);
        return [.. VirtualMaps.Check(options, paths), .. CanonicalMaps.Check(options, paths), .. RelayDomains.Check(options, paths)];
    }
}
