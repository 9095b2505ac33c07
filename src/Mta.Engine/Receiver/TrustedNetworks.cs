// Decides whether a client address is in the configured trusted (relay) networks.
using System.Net;
using Mta.Engine.Configuration;

namespace Mta.Engine.Receiver;

public sealed class TrustedNetworks(MtaOptions options)
{
    private readonly IPNetwork[] _networks = options.Relay.TrustedNetworks.Select(n => IPNetwork.Parse(n)).ToArray();

    public bool Contains(IPAddress address)
    {
        address = ClientAddress.Canonical(address);
        foreach (var n in _networks)
            if (n.Contains(address)) return true;
        return false;
    }
}
