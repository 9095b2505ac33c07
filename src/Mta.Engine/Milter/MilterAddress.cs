// Parses a milter's address in Postfix's forms (unix:PATH, inet:HOST:PORT, inet6:HOST:PORT) into a socket endpoint.
using System.Net;
using System.Net.Sockets;

namespace Mta.Engine.Milter;

/// <summary>Where a milter listens: a Unix socket path, or a host (name or address) and port.</summary>
public sealed record MilterAddress(string? SocketPath, string? Host, int Port, AddressFamily Family)
{
    /// <summary>The accepted forms, for error messages.</summary>
    public const string Forms = "unix:/path/to/socket, inet:HOST:PORT or inet6:[ADDRESS]:PORT";

    /// <summary>Parses <paramref name="text"/>; false with <paramref name="error"/> saying why.</summary>
    public static bool TryParse(string? text, out MilterAddress address, out string error)
    {
        address = null!;
        error = "";
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "must not be empty (" + Forms + ")";
            return false;
        }
        var colon = text.IndexOf(':');
        var transport = colon < 0 ? "" : text[..colon];
        var rest = colon < 0 ? "" : text[(colon + 1)..];
        switch (transport)
        {
            case "unix" or "local":
                if (rest.Length == 0 || rest[0] != '/')
                {
                    error = $"'{text}': the socket path must be absolute";
                    return false;
                }
                address = new MilterAddress(rest, null, 0, AddressFamily.Unix);
                return true;
            case "inet" or "inet6":
                var portColon = rest.LastIndexOf(':');
                if (portColon <= 0 || !int.TryParse(rest.AsSpan(portColon + 1), out var port) || port is < 1 or > 65535)
                {
                    error = $"'{text}' has no valid port (" + Forms + ")";
                    return false;
                }
                var host = rest[..portColon];
                if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
                if (host.Length == 0 || (host.Contains(':') && !IPAddress.TryParse(host, out _)))
                {
                    error = $"'{text}' has no valid host (" + Forms + ")";
                    return false;
                }
                var family = transport == "inet6" ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork;
                if (IPAddress.TryParse(host, out var ip)) family = ip.AddressFamily;
                address = new MilterAddress(null, host, port, family);
                return true;
            default:
                error = $"'{text}' is not " + Forms;
                return false;
        }
    }

    /// <summary>The address as configured.</summary>
    public override string ToString() => SocketPath is not null ? "unix:" + SocketPath : Family == AddressFamily.InterNetworkV6 ? $"inet6:[{Host}]:{Port}" : $"inet:{Host}:{Port}";
}
