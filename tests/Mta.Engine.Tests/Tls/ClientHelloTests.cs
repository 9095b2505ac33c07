// ClientHello parsing for the certificate choice: the fields it needs, and no exception on any truncation or junk.
using Mta.Engine.Tls;

namespace Mta.Engine.Tests.Tls;

public sealed class ClientHelloTests
{
    private static readonly IReadOnlySet<ushort> EcdsaSuites = new HashSet<ushort> { 0xc02b, 0xc02c };

    /// <summary>A ClientHello record with the given suites and optional extensions.</summary>
    private static byte[] Hello(ushort[] suites, ushort[]? sigalgs = null, bool tls13 = false)
    {
        var extensions = new List<byte>();
        if (sigalgs is not null)
        {
            var list = sigalgs.SelectMany(Be).ToArray();
            extensions.AddRange([0, 13, .. Be((ushort)(list.Length + 2)), .. Be((ushort)list.Length), .. list]);
        }
        if (tls13) extensions.AddRange([0, 43, 0, 5, 4, 3, 4, 3, 3]);
        byte[] suiteBytes = [.. suites.SelectMany(Be)];
        byte[] body = [3, 3, .. new byte[32], 0, .. Be((ushort)suiteBytes.Length), .. suiteBytes, 1, 0, .. Be((ushort)extensions.Count), .. extensions];
        byte[] handshake = [1, 0, (byte)(body.Length >> 8), (byte)body.Length, .. body];
        return [22, 3, 1, .. Be((ushort)handshake.Length), .. handshake];
    }

    private static byte[] Be(ushort v) => [(byte)(v >> 8), (byte)v];

    [Fact]
    public void Reads_suites_signature_algorithms_and_TLS_1_3()
    {
        var hello = ClientHello.TryParse(Hello([0xc02f, 0xc02b], [0x0804, 0x0403], tls13: true));
        Assert.NotNull(hello);
        Assert.Equal([0xc02f, 0xc02b], hello.CipherSuites);
        Assert.Equal([0x0804, 0x0403], hello.SignatureAlgorithms);
        Assert.True(hello.OffersTls13);
    }

    [Fact]
    public void ECDSA_needs_an_ECDSA_signature_and_an_ECDSA_suite_or_TLS_1_3()
    {
        Assert.True(ClientHello.TryParse(Hello([0xc02b]))!.AcceptsEcdsa(true, EcdsaSuites));              // no sigalgs: TLS 1.2 default
        Assert.False(ClientHello.TryParse(Hello([0xc02f]))!.AcceptsEcdsa(true, EcdsaSuites));             // ECDHE-RSA only
        Assert.False(ClientHello.TryParse(Hello([0xc02b], [0x0401]))!.AcceptsEcdsa(true, EcdsaSuites));   // rsa_pkcs1_sha256 only
        Assert.True(ClientHello.TryParse(Hello([0x1301], [0x0403], tls13: true))!.AcceptsEcdsa(true, EcdsaSuites));
        Assert.False(ClientHello.TryParse(Hello([0x1301], [0x0403], tls13: true))!.AcceptsEcdsa(false, EcdsaSuites));
        Assert.False(ClientHello.TryParse(Hello([0x1301], [0x0804], tls13: true))!.AcceptsEcdsa(true, EcdsaSuites));
    }

    [Fact]
    public void Truncated_or_junk_input_gives_null_never_an_exception()
    {
        var whole = Hello([0xc02b, 0xc02f], [0x0403], tls13: true);
        for (var n = 0; n < whole.Length; n++) Assert.Null(ClientHello.TryParse(whole.AsSpan(0, n)));
        var random = new Random(11);
        for (var i = 0; i < 2000; i++)
        {
            var junk = (byte[])whole.Clone();
            junk[5 + random.Next(junk.Length - 5)] = (byte)random.Next(256);
            _ = ClientHello.TryParse(junk);
        }
        Assert.Null(ClientHello.TryParse("EHLO x\r\n"u8));
    }
}
