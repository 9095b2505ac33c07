// One rule for who a client is: an IPv4 client seen through a dual-stack socket is its IPv4 address.
using System.Net;

namespace Mta.Engine.Receiver;

/// <summary>
/// The canonical form of a client address. A dual-stack listener reports IPv4 clients as IPv4-mapped IPv6
/// (<c>::ffff:192.0.2.1</c>); limits, trusted networks, Received fields and hooks must all see <c>192.0.2.1</c>.
/// The session's <see cref="Mta.Abstractions.ISessionInfo.RemoteEndPoint"/> is already canonical.
/// </summary>
internal static class ClientAddress
{
    public static IPAddress Canonical(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    public static IPEndPoint Canonical(IPEndPoint endPoint) =>
        endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;

    /// <summary>What per-client limits (connections, AUTH failures) count: an IPv4 address (IPv4-mapped included) by
    /// itself, an IPv6 address by its /64, since one host is usually given a whole /64 and could otherwise take a new
    /// address for every connection or guess.</summary>
    public static IPAddress LimitKey(IPAddress address)
    {
        address = Canonical(address);
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return address;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }
}
