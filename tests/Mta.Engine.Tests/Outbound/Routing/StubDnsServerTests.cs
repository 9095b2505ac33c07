// The stub DNS server on the wire: response codes, compressed names on input, and survival of malformed datagrams.
using System.Buffers.Binary;
using System.Net.Sockets;
using Mta.Testing;

namespace Mta.Engine.Tests.Outbound.Routing;

public sealed class StubDnsServerTests
{
    private const int Timeout = 10_000;

    // Header: id 0x1234, RD set, one question; the caller appends the question (or whatever it likes).
    private static List<byte> Header(int questions = 1) => [0x12, 0x34, 0x01, 0x00, 0x00, (byte)questions, 0, 0, 0, 0, 0, 0];

    private static byte[] Name(string name) =>
        [.. name.Split('.').SelectMany(l => new[] { (byte)l.Length }.Concat(System.Text.Encoding.ASCII.GetBytes(l))), 0];

    private static async Task<byte[]> ExchangeAsync(StubDnsServer dns, byte[] query, CancellationToken ct, int waitMs = 3000)
    {
        using var udp = new UdpClient(AddressFamily.InterNetwork);
        udp.Connect(dns.EndPoint);
        await udp.SendAsync(query, ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(waitMs);
        return (await udp.ReceiveAsync(cts.Token)).Buffer;
    }

    private static byte[] Query(string name, ushort type)
    {
        var q = Header();
        q.AddRange(Name(name));
        q.AddRange([(byte)(type >> 8), (byte)type, 0, 1]);
        return [.. q];
    }

    private static int Rcode(byte[] reply) => reply[3] & 0x0f;

    private static int Answers(byte[] reply) => BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(6));

    [Fact(Timeout = Timeout)]
    public async Task Unknown_names_are_NXDOMAIN_and_missing_types_are_NODATA()
    {
        await using var dns = StubDnsServer.Start();
        dns.AddA("host.test", "192.0.2.1");
        var ct = TestContext.Current.CancellationToken;

        var a = await ExchangeAsync(dns, Query("host.test", 1), ct);
        var mx = await ExchangeAsync(dns, Query("host.test", 15), ct);
        var none = await ExchangeAsync(dns, Query("other.test", 1), ct);

        Assert.Equal((0x12, 0x34), (a[0], a[1]));
        Assert.True((a[2] & 0x80) != 0, "QR set");
        Assert.Equal((0, 1), (Rcode(a), Answers(a)));
        Assert.Equal([192, 0, 2, 1], a[^4..]);
        Assert.Equal((0, 0), (Rcode(mx), Answers(mx)));
        Assert.Equal((3, 0), (Rcode(none), Answers(none)));
        Assert.Equal([("host.test", "A"), ("host.test", "MX"), ("other.test", "A")], dns.Queries);
        Assert.Equal(3, dns.QueryCount);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_compressed_question_name_is_read()
    {
        await using var dns = StubDnsServer.Start();
        dns.AddA("mx.host.test", "192.0.2.2");
        // "mx" then a pointer to "host.test" placed after the question's type and class.
        var q = Header();
        q.AddRange([2, (byte)'m', (byte)'x', 0xc0, 21, 0, 1, 0, 1]);
        q.AddRange(Name("host.test"));

        var reply = await ExchangeAsync(dns, [.. q], TestContext.Current.CancellationToken);

        Assert.Equal((0, 1), (Rcode(reply), Answers(reply)));
        Assert.Equal(("mx.host.test", "A"), Assert.Single(dns.Queries));
    }

    [Fact(Timeout = Timeout)]
    public async Task Malformed_queries_get_FORMERR_and_the_server_keeps_serving()
    {
        await using var dns = StubDnsServer.Start();
        dns.AddA("ok.test", "192.0.2.3");
        var ct = TestContext.Current.CancellationToken;
        var loop = Header();
        loop.AddRange([0xc0, 12, 0, 1, 0, 1]); // a pointer to itself
        var truncated = Header();
        truncated.AddRange([5, (byte)'a']);
        var twoQuestions = Header(questions: 2);
        twoQuestions.AddRange(Name("ok.test"));

        Assert.Equal(1, Rcode(await ExchangeAsync(dns, [.. loop], ct)));
        Assert.Equal(1, Rcode(await ExchangeAsync(dns, [.. truncated], ct)));
        Assert.Equal(1, Rcode(await ExchangeAsync(dns, [.. twoQuestions], ct)));
        Assert.Equal(0, Rcode(await ExchangeAsync(dns, Query("ok.test", 1), ct)));
    }

    [Fact(Timeout = Timeout)]
    public async Task ServFail_and_no_response_names_behave_as_set()
    {
        await using var dns = StubDnsServer.Start();
        dns.SetServFail("bad.test");
        dns.SetNoResponse("quiet.test");
        var ct = TestContext.Current.CancellationToken;

        Assert.Equal(2, Rcode(await ExchangeAsync(dns, Query("bad.test", 15), ct)));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExchangeAsync(dns, Query("quiet.test", 15), ct, waitMs: 300));
        Assert.Equal(2, dns.QueryCount);
    }
}
