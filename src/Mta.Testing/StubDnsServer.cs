// A UDP DNS responder on 127.0.0.1 serving a zone the test sets up, so resolver tests never touch real DNS.
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mta.Testing;

/// <summary>
/// A minimal DNS server (RFC 1035 over UDP) answering from an in-memory zone: MX, A, AAAA, CNAME, TXT and PTR records, plus
/// names made to answer NXDOMAIN, SERVFAIL or nothing at all. Unknown names answer NXDOMAIN; a known name asked for a
/// type it lacks answers NOERROR with no records (NODATA). CNAMEs are followed inside the answer as a recursive
/// resolver does. Thread-safe: the zone may change while queries arrive.
/// </summary>
public sealed class StubDnsServer : IAsyncDisposable
{
    private const ushort TypeA = 1, TypeCname = 5, TypePtr = 12, TypeMx = 15, TypeTxt = 16, TypeAaaa = 28, TypeOpt = 41;

    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<Record>> _zone = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, Behaviour> _special = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Name, string Type)> _queries = [];

    private StubDnsServer()
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = Task.Run(ServeAsync);
    }

    /// <summary>Binds 127.0.0.1 on a free port and starts answering.</summary>
    public static StubDnsServer Start() => new();

    /// <summary>Answer SERVFAIL (a temporary failure) instead of NXDOMAIN for names not in the zone: a test server's
    /// default resolver, so remote mail that a test did not route is deferred at once, never bounced or sent anywhere.</summary>
    public bool ServFailUnknownNames { get; set; }

    /// <summary>Where the server listens (pass it as <c>Dns:Servers</c>, e.g. <c>127.0.0.1:PORT</c>).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>When true, an MX answer carries the A/AAAA records of its exchanges in the additional section, as
    /// an authoritative server does. Defaults to false (minimal responses, as modern recursive resolvers give).</summary>
    public bool IncludeAdditional { get; set; }

    /// <summary>Queries received so far, dropped ones included.</summary>
    public int QueryCount { get { lock (_gate) return _queries.Count; } }

    /// <summary>Every query received, in order: the name (lower case, no trailing dot) and the type (<c>MX</c>,
    /// <c>A</c>, <c>AAAA</c>, <c>CNAME</c>, or <c>TYPEn</c>).</summary>
    public IReadOnlyList<(string Name, string Type)> Queries { get { lock (_gate) return [.. _queries]; } }

    /// <summary>The TTL, in seconds, of records added from now on. Defaults to 300.</summary>
    public uint Ttl { get; set; } = 300;

    /// <summary>Adds a TXT record made of the given character-strings, each at most 255 octets of UTF-8 (RFC 1035 3.3.14).
    /// A single string longer than that is split into 255-octet strings, as zone tools do.</summary>
    public void AddTxt(string name, params string[] strings)
    {
        var data = new List<byte>();
        var pieces = strings.Length == 1 ? Split(Encoding.UTF8.GetBytes(strings[0])) : strings.Select(Encoding.UTF8.GetBytes);
        foreach (var piece in pieces)
        {
            if (piece.Length > 255) throw new ArgumentException("a TXT character-string holds at most 255 octets", nameof(strings));
            data.Add((byte)piece.Length);
            data.AddRange(piece);
        }
        Add(name, new Record(TypeTxt, [.. data], null, Ttl));

        static IEnumerable<byte[]> Split(byte[] all)
        {
            if (all.Length == 0) yield return all;
            for (var i = 0; i < all.Length; i += 255) yield return all[i..Math.Min(all.Length, i + 255)];
        }
    }

    /// <summary>Adds a PTR record for <paramref name="address"/> (its in-addr.arpa or ip6.arpa name) pointing to <paramref name="target"/>.</summary>
    public void AddPtr(string address, string target) =>
        Add(ReverseName(IPAddress.Parse(address)), new Record(TypePtr, EncodeName(target), Normalize(target), Ttl));

    /// <summary>Adds an MX record; <paramref name="exchange"/> <c>"."</c> makes a null MX (RFC 7505).</summary>
    public void AddMx(string domain, int preference, string exchange) =>
        Add(domain, new Record(TypeMx, EncodeMx(preference, exchange), exchange == "." ? null : Normalize(exchange), Ttl));

    /// <summary>Adds an A record.</summary>
    public void AddA(string name, string ip) => Add(name, new Record(TypeA, Address(ip, AddressFamily.InterNetwork), null, Ttl));

    /// <summary>Adds an AAAA record.</summary>
    public void AddAaaa(string name, string ip) => Add(name, new Record(TypeAaaa, Address(ip, AddressFamily.InterNetworkV6), null, Ttl));

    /// <summary>Makes <paramref name="name"/> an alias of <paramref name="target"/>.</summary>
    public void AddCname(string name, string target) => Add(name, new Record(TypeCname, EncodeName(target), Normalize(target), Ttl));

    /// <summary>Answers NXDOMAIN for the name, whatever records it has.</summary>
    public void SetNxDomain(string name) => SetSpecial(name, Behaviour.NxDomain);

    /// <summary>Answers SERVFAIL for the name.</summary>
    public void SetServFail(string name) => SetSpecial(name, Behaviour.ServFail);

    /// <summary>Drops queries for the name, so the client times out.</summary>
    public void SetNoResponse(string name) => SetSpecial(name, Behaviour.Drop);

    /// <summary>Stops answering and releases the port.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        try { await _loop.ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    private void Add(string name, Record record)
    {
        lock (_gate)
        {
            var key = Normalize(name);
            if (!_zone.TryGetValue(key, out var list))
                _zone[key] = list = [];
            list.Add(record);
        }
    }

    private void SetSpecial(string name, Behaviour behaviour)
    {
        lock (_gate) _special[Normalize(name)] = behaviour;
    }

    private async Task ServeAsync()
    {
        var buffer = new byte[65535];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // An ICMP port-unreachable from an earlier reply surfaces here on some systems; keep serving.
                continue;
            }
            var reply = Answer(buffer.AsSpan(0, received.ReceivedBytes));
            if (reply is null)
                continue;
            try
            {
                await _socket.SendToAsync(reply, SocketFlags.None, received.RemoteEndPoint, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
            }
        }
    }

    /// <summary>The reply to one datagram, or null to send none.</summary>
    private byte[]? Answer(ReadOnlySpan<byte> query)
    {
        if (query.Length < 12 || (query[2] & 0x80) != 0)
            return null; // too short for a header, or a response: nothing sensible to say
        var id = BinaryPrimitives.ReadUInt16BigEndian(query);
        var opcode = (query[2] >> 3) & 0x0f;
        var recursionDesired = (query[2] & 0x01) != 0;
        var questions = BinaryPrimitives.ReadUInt16BigEndian(query[4..]);

        string name;
        ushort type, @class;
        int questionEnd;
        var maxSize = 512;
        try
        {
            if (questions != 1)
                return Header(id, opcode, recursionDesired, Rcode.FormErr);
            var offset = 12;
            name = ReadName(query, ref offset);
            type = BinaryPrimitives.ReadUInt16BigEndian(query[offset..]);
            @class = BinaryPrimitives.ReadUInt16BigEndian(query[(offset + 2)..]);
            questionEnd = offset + 4;
            maxSize = AdvertisedSize(query, questionEnd);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            return Header(id, opcode, recursionDesired, Rcode.FormErr);
        }

        Behaviour special;
        List<byte[]> answers = [], additional = [];
        var rcode = Rcode.NoError;
        lock (_gate)
        {
            _queries.Add((name, TypeName(type)));
            special = _special.GetValueOrDefault(name, Behaviour.Normal);
            if (special == Behaviour.Normal && ServFailUnknownNames && !_zone.ContainsKey(name)) special = Behaviour.ServFail;
            if (special == Behaviour.Normal && opcode == 0 && @class == 1)
                rcode = Lookup(name, type, answers, additional);
        }
        if (special == Behaviour.Drop)
            return null;
        if (opcode != 0)
            rcode = Rcode.NotImp;
        else if (@class != 1)
            rcode = Rcode.Refused;
        else if (special == Behaviour.NxDomain)
            rcode = Rcode.NxDomain;
        else if (special == Behaviour.ServFail)
            rcode = Rcode.ServFail;
        if (rcode != Rcode.NoError && rcode != Rcode.NxDomain)
            answers.Clear();
        if (rcode != Rcode.NoError)
            additional.Clear();

        var message = new List<byte>(Header(id, opcode, recursionDesired, rcode));
        // The question goes back as it came, compression pointers resolved: a pointer would point into the query.
        message.AddRange(EncodeName(name));
        AddUInt16(message, type);
        AddUInt16(message, @class);
        var headerAndQuestion = message.Count;
        foreach (var a in answers) message.AddRange(a);
        foreach (var a in additional) message.AddRange(a);
        var bytes = message.ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), 1);
        if (bytes.Length > maxSize)
        {
            // RFC 1035 4.2.1: too big for UDP, so send what fits (nothing) and set TC; the client retries over TCP.
            bytes = bytes[..headerAndQuestion];
            bytes[2] |= 0x02;
            return bytes;
        }
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), (ushort)answers.Count);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(10), (ushort)additional.Count);
        return bytes;
    }

    /// <summary>Fills the answer (following CNAMEs) and, for MX when asked, the additional section.</summary>
    private Rcode Lookup(string name, ushort type, List<byte[]> answers, List<byte[]> additional)
    {
        var current = name;
        for (var depth = 0; depth < 8; depth++)
        {
            if (!_zone.TryGetValue(current, out var records))
                return depth == 0 ? Rcode.NxDomain : Rcode.NoError; // a dangling CNAME still has its own answer
            var cname = type != TypeCname ? records.FirstOrDefault(r => r.Type == TypeCname) : null;
            if (cname is not null)
            {
                answers.Add(ResourceRecord(current, cname));
                current = cname.Target!;
                if (_special.ContainsKey(current))
                    return Rcode.NoError; // the client must ask for the target itself
                continue;
            }
            foreach (var record in records.Where(r => r.Type == type))
            {
                answers.Add(ResourceRecord(current, record));
                if (IncludeAdditional && record.Type == TypeMx && record.Target is { } exchange && _zone.TryGetValue(exchange, out var glue))
                {
                    foreach (var g in glue.Where(g => g.Type is TypeA or TypeAaaa))
                        additional.Add(ResourceRecord(exchange, g));
                }
            }
            return Rcode.NoError;
        }
        return Rcode.ServFail; // a CNAME loop
    }

    private static byte[] Header(ushort id, int opcode, bool recursionDesired, Rcode rcode)
    {
        var header = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        // QR=1, the query's opcode, AA=1, RD copied; RA=1 and the response code.
        header[2] = (byte)(0x80 | (opcode << 3) | 0x04 | (recursionDesired ? 0x01 : 0x00));
        header[3] = (byte)(0x80 | (int)rcode);
        return header;
    }

    private static byte[] ResourceRecord(string owner, Record record)
    {
        var bytes = new List<byte>(EncodeName(owner));
        AddUInt16(bytes, record.Type);
        AddUInt16(bytes, 1);
        bytes.AddRange([(byte)(record.Ttl >> 24), (byte)(record.Ttl >> 16), (byte)(record.Ttl >> 8), (byte)record.Ttl]);
        AddUInt16(bytes, (ushort)record.Data.Length);
        bytes.AddRange(record.Data);
        return [.. bytes];
    }

    /// <summary>The UDP payload size the client advertised in an EDNS OPT record (RFC 6891), else 512.</summary>
    private static int AdvertisedSize(ReadOnlySpan<byte> query, int offset)
    {
        int answers = BinaryPrimitives.ReadUInt16BigEndian(query[6..]), authority = BinaryPrimitives.ReadUInt16BigEndian(query[8..]),
            additional = BinaryPrimitives.ReadUInt16BigEndian(query[10..]);
        for (var i = 0; i < answers + authority + additional; i++)
        {
            ReadName(query, ref offset);
            var type = BinaryPrimitives.ReadUInt16BigEndian(query[offset..]);
            var size = BinaryPrimitives.ReadUInt16BigEndian(query[(offset + 2)..]);
            var length = BinaryPrimitives.ReadUInt16BigEndian(query[(offset + 8)..]);
            offset += 10 + length;
            if (offset > query.Length)
                throw new FormatException("record past the end");
            if (type == TypeOpt && i >= answers + authority)
                return Math.Max(512, (int)size);
        }
        return 512;
    }

    /// <summary>Reads a possibly compressed name (RFC 1035 4.1.4), lower case, without the trailing dot.</summary>
    private static string ReadName(ReadOnlySpan<byte> message, ref int offset)
    {
        var labels = new List<string>();
        var position = offset;
        var jumped = false;
        var jumps = 0;
        while (true)
        {
            var length = message[position];
            if ((length & 0xc0) == 0xc0)
            {
                // A pointer only goes backwards in sane messages; a jump limit stops loops in insane ones.
                if (++jumps > 16)
                    throw new FormatException("compression loop");
                var target = BinaryPrimitives.ReadUInt16BigEndian(message[position..]) & 0x3fff;
                if (!jumped)
                    offset = position + 2;
                jumped = true;
                position = target;
                continue;
            }
            if ((length & 0xc0) != 0)
                throw new FormatException("unknown label type");
            if (length == 0)
            {
                if (!jumped)
                    offset = position + 1;
                break;
            }
            labels.Add(Encoding.ASCII.GetString(message.Slice(position + 1, length)));
            position += 1 + length;
            if (labels.Sum(l => l.Length + 1) > 255)
                throw new FormatException("name too long");
        }
        return string.Join('.', labels).ToLowerInvariant();
    }

    private static byte[] EncodeName(string name)
    {
        var bytes = new List<byte>();
        foreach (var label in Normalize(name).Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var ascii = Encoding.ASCII.GetBytes(label);
            if (ascii.Length > 63)
                throw new ArgumentException($"label '{label}' is longer than 63 octets", nameof(name));
            bytes.Add((byte)ascii.Length);
            bytes.AddRange(ascii);
        }
        bytes.Add(0);
        return [.. bytes];
    }

    private static byte[] EncodeMx(int preference, string exchange)
    {
        var bytes = new List<byte>();
        AddUInt16(bytes, checked((ushort)preference));
        bytes.AddRange(EncodeName(exchange));
        return [.. bytes];
    }

    private static byte[] Address(string ip, AddressFamily family)
    {
        var address = IPAddress.Parse(ip);
        if (address.AddressFamily != family)
            throw new ArgumentException($"'{ip}' is not an {(family == AddressFamily.InterNetwork ? "IPv4" : "IPv6")} address", nameof(ip));
        return address.GetAddressBytes();
    }

    private static void AddUInt16(List<byte> bytes, ushort value)
    {
        bytes.Add((byte)(value >> 8));
        bytes.Add((byte)value);
    }

    private static string ReverseName(IPAddress address)
    {
        var bytes = address.GetAddressBytes();
        if (address.AddressFamily == AddressFamily.InterNetwork)
            return string.Join('.', bytes.Reverse()) + ".in-addr.arpa";
        return string.Concat(bytes.Reverse().Select(b => $"{b & 0xf:x}.{b >> 4:x}.")) + "ip6.arpa";
    }

    private static string Normalize(string name) => name.Trim().TrimEnd('.').ToLowerInvariant();

    private static string TypeName(ushort type) => type switch
    {
        TypeA => "A",
        TypeCname => "CNAME",
        TypeMx => "MX",
        TypePtr => "PTR",
        TypeAaaa => "AAAA",
        2 => "NS",
        6 => "SOA",
        255 => "ANY",
        _ => $"TYPE{type}",
    };

    private enum Behaviour { Normal, NxDomain, ServFail, Drop }

    private enum Rcode { NoError = 0, FormErr = 1, ServFail = 2, NxDomain = 3, NotImp = 4, Refused = 5 }

    /// <summary>One record: its type, its wire-format RDATA, and the name it points to (MX exchange, CNAME target).</summary>
    private sealed record Record(ushort Type, byte[] Data, string? Target, uint Ttl);
}
