// Reads a PROXY protocol header off a new connection, taking exactly its bytes and leaving the client's for the session.
using System.Buffers;
using System.Net.Sockets;
using Mta.Engine.Configuration;
using Mta.Protocol;

namespace Mta.Engine.Receiver;

/// <summary>A listener's PROXY protocol settings, parsed once when it starts.</summary>
internal sealed class ProxySettings(ListenerOptions listener)
{
    public NetworkList Networks { get; } = new(listener.ProxyNetworks);

    public ProxyHeaderVersions Versions { get; } = listener.ProxyProtocol switch
    {
        ProxyProtocolMode.V1 => ProxyHeaderVersions.V1,
        ProxyProtocolMode.V2 => ProxyHeaderVersions.V2,
        _ => ProxyHeaderVersions.Any,
    };

    public TimeSpan Timeout { get; } = listener.ProxyTimeout;

    /// <summary>The settings of a listener with PROXY on, else null.</summary>
    public static ProxySettings? For(ListenerOptions listener) =>
        listener.ProxyProtocol == ProxyProtocolMode.None ? null : new ProxySettings(listener);
}

internal static class ProxyHeaderReader
{
    /// <summary>
    /// Reads the header within <paramref name="timeout"/>. Bytes are peeked first and taken off the socket only as far as
    /// the header goes: what the client sent behind it (a TLS ClientHello, an early talker's command) stays in the
    /// socket for the session, which then judges it as if no proxy were there.
    /// </summary>
    /// <returns>The header, or null and why not (bad header, timeout, closed).</returns>
    public static async Task<(ProxyHeader? Header, string? Error)> ReadAsync(Socket socket, ProxyHeaderVersions versions, TimeSpan timeout,
        TimeProvider time, CancellationToken cancellationToken)
    {
        var limit = (versions & ProxyHeaderVersions.V2) != 0 ? ProxyHeaderParser.MaxV2Length : ProxyHeaderParser.MaxV1Length;
        var buffer = ArrayPool<byte>.Shared.Rent(limit);
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            var filled = 0;
            while (true)
            {
                var peeked = await socket.ReceiveAsync(buffer.AsMemory(filled, limit - filled), SocketFlags.Peek, linked.Token);
                if (peeked == 0) return (null, "connection closed before the PROXY header ended");
                var status = ProxyHeaderParser.TryParse(buffer.AsSpan(0, filled + peeked), versions, out var header, out var consumed, out var error);
                if (status == ProxyHeaderStatus.Invalid) return (null, error);
                // Incomplete: every peeked byte belongs to the header, so all of them can be taken.
                var take = status == ProxyHeaderStatus.Complete ? consumed - filled : peeked;
                await TakeAsync(socket, buffer.AsMemory(filled, take), linked.Token);
                filled += take;
                if (status == ProxyHeaderStatus.Complete) return (header, null);
            }
        }
        catch (OperationCanceledException) when (timer.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return (null, $"no complete PROXY header within {timeout.TotalSeconds:0.#} s");
        }
        catch (SocketException ex)
        {
            return (null, "connection failed while reading the PROXY header: " + ex.SocketErrorCode);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // The bytes were peeked, so they are there: this completes without waiting for the client.
    private static async Task TakeAsync(Socket socket, Memory<byte> into, CancellationToken cancellationToken)
    {
        while (!into.IsEmpty)
        {
            var n = await socket.ReceiveAsync(into, SocketFlags.None, cancellationToken);
            if (n == 0) throw new SocketException((int)SocketError.ConnectionReset);
            into = into[n..];
        }
    }
}
