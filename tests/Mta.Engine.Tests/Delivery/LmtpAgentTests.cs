// The LMTP agent against a scripted LMTP server: LHLO, one reply per accepted recipient after DATA or BDAT LAST, outcomes and codes.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;

namespace Mta.Engine.Tests.Delivery;

public sealed class LmtpAgentTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static LmtpAgent Agent(string endpoint)
    {
        var options = new MtaOptions { HostName = "mta.test" };
        options.Mailboxes.Lmtp.Endpoint = endpoint;
        var t = TimeSpan.FromSeconds(8);
        options.Relay.Timeouts = new SmtpClientTimeouts
        {
            Connect = t, Greeting = t, Command = t, Mail = t, Rcpt = t, DataInitiation = t, DataBlock = t, DataTermination = t,
        };
        return new LmtpAgent(options, NullLogger<LmtpAgent>.Instance);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Each_accepted_recipient_is_decided_by_its_own_reply_after_the_message(bool chunking)
    {
        await using var server = await ScriptedLmtpServer.StartAsync(chunking, unix: !chunking,
            rcpt: r => r.StartsWith("<nobody@", StringComparison.Ordinal) ? "550 5.1.1 User doesn't exist" : "250 2.1.5 OK",
            final: r => r switch
            {
                "<full@example.test>" => "452 4.2.2 Mailbox is full",
                "<odd@example.test>" => "554 4.2.2 class of code disagrees",
                _ => "250 2.0.0 Saved",
            });
        var message = new TestMessage("alice@example.test", "nobody@example.test", "full@example.test", "odd@example.test", "bob@example.test");

        var result = await Agent(server.Endpoint).DeliverAsync(message.To(RouteKind.Mailbox, "alice@example.test"), Ct);

        Assert.Equal([DeliveryStatus.Delivered, DeliveryStatus.Failed, DeliveryStatus.Deferred, DeliveryStatus.Failed, DeliveryStatus.Delivered],
            result.Recipients.Select(o => o.Status));
        Assert.Equal(["2.0.0", "5.1.1", "4.2.2", "5.0.0", "2.0.0"], result.Recipients.Select(o => o.EnhancedStatus));
        Assert.Equal("452 4.2.2 Mailbox is full", result.Recipients[2].RemoteReply);
        // As the SMTP agent reports a host: host[address]:port over TCP; the socket as configured over a Unix socket.
        var host = chunking ? server.Endpoint.Replace("127.0.0.1:", "127.0.0.1[127.0.0.1]:", StringComparison.Ordinal) : server.Endpoint;
        Assert.All(result.Recipients, o => Assert.Equal(host, o.RemoteHost));
        Assert.All(result.Recipients.Where(o => o.Status == DeliveryStatus.Delivered), o => Assert.Equal(SuccessNotice.Delivered, o.Notice));
        Assert.Equal("LHLO mta.test", server.Commands.First());
        Assert.Contains(chunking ? "BDAT" : "DATA", server.Commands.First(c => c.StartsWith("BDAT", StringComparison.Ordinal) || c == "DATA"),
            StringComparison.Ordinal);
        Assert.Contains("Subject: agents", server.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_421_among_the_replies_after_the_message_defers_the_rest()
    {
        await using var server = await ScriptedLmtpServer.StartAsync(chunking: false, unix: true, rcpt: _ => "250 2.1.5 OK",
            final: r => r == "<b@example.test>" ? "421 4.3.2 Shutting down" : "250 2.0.0 Saved");
        var message = new TestMessage("a@example.test", "b@example.test", "c@example.test");

        var result = await Agent(server.Endpoint).DeliverAsync(message.To(RouteKind.Mailbox, "a@example.test"), Ct);

        Assert.Equal([DeliveryStatus.Delivered, DeliveryStatus.Deferred, DeliveryStatus.Deferred], result.Recipients.Select(o => o.Status));
        Assert.Equal("4.3.2", result.Recipients[2].EnhancedStatus);
    }

    [Theory]
    [InlineData("unix:/nonexistent/mta-test/lmtp")]
    [InlineData("127.0.0.1:1")]
    public async Task An_unreachable_server_defers_every_recipient_with_4_4_1(string endpoint)
    {
        var message = new TestMessage("a@example.test", "b@example.test");

        var result = await Agent(endpoint).DeliverAsync(message.To(RouteKind.Mailbox, "a@example.test"), Ct);

        Assert.All(result.Recipients, o =>
        {
            Assert.Equal(DeliveryStatus.Deferred, o.Status);
            Assert.Equal("4.4.1", o.EnhancedStatus);
        });
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("unix:/run/dovecot/lmtp", true)]
    [InlineData("127.0.0.1:24", true)]
    [InlineData("[::1]:24", true)]
    [InlineData("unix:", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("localhost:24", false)]
    [InlineData("127.0.0.1:99999", false)]
    public void Endpoint_is_validated(string endpoint, bool valid)
    {
        var options = new MtaOptions();
        options.Mailboxes.Lmtp.Endpoint = endpoint;
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Equal(valid, !errors.Any(e => e.StartsWith("Mailboxes:Lmtp:Endpoint", StringComparison.Ordinal)));
    }

    /// <summary>One LMTP session, scripted: replies to RCPT by address, and after the message one reply per accepted
    /// recipient in RCPT order (RFC 2033 4.2). Refuses EHLO and HELO, as an LMTP server does.</summary>
    private sealed class ScriptedLmtpServer : IAsyncDisposable
    {
        private readonly Socket _listener;
        private readonly string? _path;
        private readonly Task _session;

        private ScriptedLmtpServer(Socket listener, string endpoint, string? path, Func<ScriptedLmtpServer, Task> session)
        {
            _listener = listener;
            Endpoint = endpoint;
            _path = path;
            _session = session(this);
        }

        public string Endpoint { get; }
        public ConcurrentQueue<string> Commands { get; } = new();
        public string Message { get; private set; } = "";

        public static Task<ScriptedLmtpServer> StartAsync(bool chunking, bool unix, Func<string, string> rcpt, Func<string, string> final)
        {
            Socket listener;
            string endpoint;
            string? path = null;
            if (unix)
            {
                path = Path.Combine(Path.GetTempPath(), "mta-lmtp-" + Guid.NewGuid().ToString("n")[..12]);
                listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                listener.Bind(new UnixDomainSocketEndPoint(path));
                endpoint = "unix:" + path;
            }
            else
            {
                listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                endpoint = "127.0.0.1:" + ((IPEndPoint)listener.LocalEndPoint!).Port;
            }
            listener.Listen(1);
            return Task.FromResult(new ScriptedLmtpServer(listener, endpoint, path, s => s.RunAsync(chunking, rcpt, final)));
        }

        private async Task RunAsync(bool chunking, Func<string, string> rcpt, Func<string, string> final)
        {
            using var socket = await _listener.AcceptAsync(Ct);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            async Task Say(string line) => await stream.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), Ct);
            var accepted = new List<string>();
            await Say("220 lmtp.test LMTP ready");
            while (await ReadLineAsync(stream) is { } line)
            {
                Commands.Enqueue(line);
                var verb = line.Split(' ')[0].ToUpperInvariant();
                switch (verb)
                {
                    case "LHLO":
                        await Say("250-lmtp.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n" + (chunking ? "250-CHUNKING\r\n" : "") + "250 8BITMIME");
                        break;
                    case "MAIL":
                        await Say("250 2.1.0 OK");
                        break;
                    case "RCPT":
                        var address = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ')[0];
                        var reply = rcpt(address);
                        if (reply.StartsWith('2')) accepted.Add(address);
                        await Say(reply);
                        break;
                    case "DATA":
                        await Say("354 OK");
                        var data = new StringBuilder();
                        while (await ReadLineAsync(stream) is { } l && l != ".") data.Append(l).Append("\r\n");
                        await FinishAsync(data.ToString());
                        break;
                    case "BDAT":
                        var size = int.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
                        var bytes = new byte[size];
                        await stream.ReadExactlyAsync(bytes, Ct);
                        Message += Encoding.UTF8.GetString(bytes);
                        if (line.EndsWith(" LAST", StringComparison.Ordinal)) await FinishAsync(Message);
                        else await Say("250 2.0.0 chunk OK");
                        break;
                    case "QUIT":
                        await Say("221 2.0.0 Bye");
                        return;
                    default:
                        await Say("500 5.5.1 Unknown command");
                        break;
                }
            }

            async Task FinishAsync(string message)
            {
                Message = message;
                foreach (var address in accepted)
                {
                    var reply = final(address);
                    await Say(reply);
                    if (reply.StartsWith("421", StringComparison.Ordinal)) return;
                }
                accepted.Clear();
            }
        }

        private static async Task<string?> ReadLineAsync(Stream stream)
        {
            var line = new List<byte>();
            var one = new byte[1];
            while (true)
            {
                if (await stream.ReadAsync(one, Ct) == 0) return null;
                if (one[0] == '\n') return Encoding.UTF8.GetString([.. line]).TrimEnd('\r');
                line.Add(one[0]);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            try { await _session.WaitAsync(TimeSpan.FromSeconds(10)); } catch (Exception) { /* the session's end is not under test */ }
            if (_path is not null) File.Delete(_path);
        }
    }
}
