// Reads what a TLS ClientHello says about the certificate the client can verify: its cipher suites, signature
// algorithms and whether it offers TLS 1.3 (RFC 5246 7.4.1.2, RFC 8446 4.1.2 and 4.2).
using System.Buffers.Binary;

namespace Mta.Engine.Tls;

/// <summary>The parts of a ClientHello that decide between an ECDSA and an RSA certificate.</summary>
/// <param name="CipherSuites">The offered cipher suites, by IANA number.</param>
/// <param name="SignatureAlgorithms">The <c>signature_algorithms</c> extension, or null when the client sent none.</param>
/// <param name="OffersTls13">The <c>supported_versions</c> extension lists TLS 1.3.</param>
internal sealed record ClientHello(ushort[] CipherSuites, ushort[]? SignatureAlgorithms, bool OffersTls13)
{
    private const byte HandshakeRecord = 22;
    private const byte ClientHelloMessage = 1;
    private const ushort SignatureAlgorithmsExtension = 13;
    private const ushort SupportedVersionsExtension = 43;
    private const ushort Tls13Version = 0x0304;

    /// <summary>The ClientHello in the first TLS record of <paramref name="data"/>, or null when it is not there whole
    /// (another record type, a hello split over several records, or malformed).</summary>
    public static ClientHello? TryParse(ReadOnlySpan<byte> data)
    {
        if (data.Length < 5 || data[0] != HandshakeRecord) return null;
        var recordLength = BinaryPrimitives.ReadUInt16BigEndian(data[3..]);
        if (data.Length < 5 + recordLength) return null;
        var r = new Reader(data.Slice(5, recordLength));
        if (!r.Byte(out var type) || type != ClientHelloMessage || !r.Length24(out var helloLength) || helloLength > r.Remaining) return null;
        r = new Reader(r.Rest[..helloLength]);
        // client_version, random, session_id, cipher_suites, compression_methods, extensions.
        if (!r.Skip(2 + 32) || !r.Vector8(out _) || !r.Vector16(out var suites) || suites.Length % 2 != 0 || !r.Vector8(out _)) return null;
        var cipherSuites = Pairs(suites);
        ushort[]? signatureAlgorithms = null;
        var tls13 = false;
        if (r.Remaining > 0)
        {
            if (!r.Vector16(out var extensions)) return null;
            var e = new Reader(extensions);
            while (e.Remaining > 0)
            {
                if (!e.UInt16(out var extensionType) || !e.Vector16(out var body)) return null;
                var b = new Reader(body);
                if (extensionType == SignatureAlgorithmsExtension && b.Vector16(out var list) && list.Length % 2 == 0)
                    signatureAlgorithms = Pairs(list);
                else if (extensionType == SupportedVersionsExtension && b.Vector8(out var versions))
                    tls13 = Pairs(versions).Contains(Tls13Version);
            }
        }
        return new ClientHello(cipherSuites, signatureAlgorithms, tls13);
    }

    /// <summary>
    /// True when the client can take an ECDSA certificate: it accepts an ECDSA signature (or sends no
    /// signature_algorithms, as TLS 1.2 allows), and either speaks TLS 1.3 (where the suite says nothing about the
    /// certificate) or offers one of <paramref name="ecdsaSuites"/> for TLS 1.2.
    /// </summary>
    public bool AcceptsEcdsa(bool tls13Allowed, IReadOnlySet<ushort> ecdsaSuites)
    {
        // ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ecdsa_secp521r1_sha512 (and their TLS 1.2 hash/signature pairs).
        if (SignatureAlgorithms is { } algorithms && !algorithms.Any(a => (a & 0xff) == 3 && (a >> 8) is >= 4 and <= 6))
            return false;
        if (OffersTls13 && tls13Allowed) return true;
        return CipherSuites.Any(ecdsaSuites.Contains);
    }

    private static ushort[] Pairs(ReadOnlySpan<byte> bytes)
    {
        var values = new ushort[bytes.Length / 2];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadUInt16BigEndian(bytes[(2 * i)..]);
        return values;
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public readonly int Remaining => _data.Length;
        public readonly ReadOnlySpan<byte> Rest => _data;

        public bool Skip(int count)
        {
            if (_data.Length < count) return false;
            _data = _data[count..];
            return true;
        }

        public bool Byte(out byte value)
        {
            value = 0;
            if (_data.Length < 1) return false;
            value = _data[0];
            _data = _data[1..];
            return true;
        }

        public bool UInt16(out ushort value)
        {
            value = 0;
            if (_data.Length < 2) return false;
            value = BinaryPrimitives.ReadUInt16BigEndian(_data);
            _data = _data[2..];
            return true;
        }

        public bool Length24(out int value)
        {
            value = 0;
            if (_data.Length < 3) return false;
            value = (_data[0] << 16) | (_data[1] << 8) | _data[2];
            _data = _data[3..];
            return true;
        }

        public bool Vector8(out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!Byte(out var length) || _data.Length < length) return false;
            body = _data[..length];
            _data = _data[length..];
            return true;
        }

        public bool Vector16(out ReadOnlySpan<byte> body)
        {
            body = default;
            if (!UInt16(out var length) || _data.Length < length) return false;
            body = _data[..length];
            _data = _data[length..];
            return true;
        }
    }
}
