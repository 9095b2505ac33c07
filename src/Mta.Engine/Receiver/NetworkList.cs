// A configured list of CIDR networks, matched against canonical client addresses.
using System.Net;

namespace Mta.Engine.Receiver;

/// <summary>Networks parsed once at start (the validator has already checked their syntax).</summary>
internal sealed class NetworkList(IEnumerable<string> networks)
{
    private readonly IPNetwork[] _networks = networks.Select(n => IPNetwork.Parse(n)).ToArray();

    public bool IsEmpty => _networks.Length == 0;

    public bool Contains(IPAddress address)
    {
        address = ClientAddress.Canonical(address);
        foreach (var n in _networks)
            if (n.Contains(address)) return true;
        return false;
    }
}
