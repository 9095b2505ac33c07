// `mta turn HOST[:PORT] --domain D`: asks a server that holds our mail to TURN, then receives that mail on the same connection.
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Configuration;
using Mta.Engine.Configuration;
using Mta.Engine.Outbound;
using Mta.Engine.Outbound.Client;
using Mta.Engine.Queue;
using Mta.Engine.Receiver;
using Mta.Protocol;

namespace Mta;

/// <summary>
/// The <c>turn</c> command (RFC 821 TURN, client side). It starts this configuration's engine without listeners (spool,
/// queue, hooks, local delivery), connects to HOST, says EHLO, STARTTLS as <c>--tls</c> asks, AUTH with <c>--user</c>,
/// then TURN. After the server's 250 the roles are reversed: the receiver engine serves the same connection, greeting
/// first, until the server QUITs; what it accepted is delivered by the queue before the command exits.
/// Exit codes: 0 done (the count of received messages is printed), 1 refused (the server's reply is printed, or the
/// engine could not start), 2 bad usage or configuration, 3 cannot connect.
/// </summary>
public static class TurnCommand
{
    private const int Ok = 0, Refused = 1, Usage = 2, NoConnection = 3;

    /// <summary>Builds <c>mta turn</c>, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var host = new Argument<string?>("HOST") { Description = "The server that holds our mail: HOST, HOST:PORT or [IPv6]:PORT (port 25 by default)", Arity = ArgumentArity.ZeroOrOne };
        var domains = new Option<string[]>("--domain", "-d")
        {
            Description = "A domain whose mail we take (repeatable): one of our local domains, or one with a Relay:Routes entry",
            AllowMultipleArgumentsPerToken = false,
        };
        var user = new Option<string?>("--user", "-u") { Description = "AUTH user name at HOST (PLAIN or LOGIN; only over TLS unless HOST is loopback)" };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the AUTH password from the first line of standard input (required with --user)" };
        var tls = new Option<string?>("--tls") { Description = "none, may (STARTTLS when offered; the default) or encrypt (STARTTLS required)" };
        var command = new Command("turn", "Ask HOST to TURN and receive the mail it holds for our domains on the same connection")
        {
            host, domains, user, passwordStdin, tls, configOption,
        };
        // Usage errors the parser would answer with exit code 1 are checked here so they give 2.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, ct) => RunAsync(new Request(parse.GetValue(host), parse.GetValue(domains) ?? [], parse.GetValue(user),
            parse.GetValue(passwordStdin), parse.GetValue(tls), parse.GetValue(configOption)?.FullName, parse.UnmatchedTokens), ct));
        return command;
    }

    private sealed record Request(string? Host, string[] Domains, string? User, bool PasswordStdin, string? Tls, string? ConfigPath,
        IReadOnlyList<string> Unmatched);

    private static async Task<int> RunAsync(Request request, CancellationToken cancellationToken)
    {
        if (request.Unmatched.Count > 0) return Fail(Usage, $"unexpected argument(s): {string.Join(' ', request.Unmatched)}");
        if (string.IsNullOrWhiteSpace(request.Host)) return Fail(Usage, "a HOST argument is required");
        if (!TryParseHost(request.Host, out var hostName, out var port)) return Fail(Usage, $"'{request.Host}' is not HOST, HOST:PORT or [IPv6]:PORT");
        if (request.Domains.Length == 0) return Fail(Usage, "at least one --domain is required");
        if (request.User is not null && !request.PasswordStdin) return Fail(Usage, "--user needs --password-stdin");
        if (request.User is null && request.PasswordStdin) return Fail(Usage, "--password-stdin needs --user");
        OutboundTlsPolicy policy;
        switch (request.Tls?.ToLowerInvariant())
        {
            case null or "may": policy = OutboundTlsPolicy.May; break;
            case "none": policy = OutboundTlsPolicy.None; break;
            case "encrypt": policy = OutboundTlsPolicy.Encrypt; break;
            default: return Fail(Usage, $"--tls: '{request.Tls}' is not none, may or encrypt");
        }

        LoadedConfig loaded;
        try
        {
            loaded = ConfigLoader.Load(request.ConfigPath);
        }
        catch (ConfigException ex)
        {
            return Fail(Usage, ex.Message);
        }
        var options = loaded.Options;
        var parsedDomains = new List<Domain>();
        foreach (var text in request.Domains)
        {
            if (!Domain.TryParse(text, out var parsed)) return Fail(Usage, $"--domain {text}: not a domain name");
            parsedDomains.Add(parsed);
        }
        var domains = parsedDomains.Distinct().Select(d => d.Name).ToArray();
        Mta.Engine.Outbound.Routing.NextHopSelector routes;
        try
        {
            routes = new Mta.Engine.Outbound.Routing.NextHopSelector(options);
        }
        catch (Mta.Engine.Configuration.StartupException ex)
        {
            return Fail(Usage, ex.Message);
        }
        foreach (var domain in domains)
        {
            // Mail for a domain we neither deliver nor route would go back out by MX: to the server it just came from.
            if (!IsLocal(options, domain) && routes.RouteFor(domain) is null)
                return Fail(Usage, $"--domain {domain}: not one of LocalDomains and no Relay:Routes entry; its mail would loop back to {hostName}");
        }
        string? password = null;
        if (request.PasswordStdin)
        {
            password = Console.In.ReadLine()?.TrimEnd('\r');
            if (string.IsNullOrEmpty(password)) return Fail(Usage, "no password on standard input");
        }

        // The engine first: a configuration that cannot start must fail before the other server hands us anything.
        // It runs without listeners: this command receives on its own connection only.
        options.Listeners.Clear();
        using var host = MtaHost.Build(loaded, logToStandardError: true, asService: false);
        try
        {
            await host.StartAsync(cancellationToken);
        }
        catch (StartupException ex)
        {
            return Fail(Refused, ex.Message);
        }
        try
        {
            return await TurnAsync(host, options, request, hostName, port, policy, password, domains, cancellationToken);
        }
        finally
        {
            try { await host.StopAsync(CancellationToken.None); } catch (OperationCanceledException) { }
        }
    }

    private static async Task<int> TurnAsync(IHost host, MtaOptions options, Request request, string hostName, int port, OutboundTlsPolicy policy,
        string? password, string[] domains, CancellationToken cancellationToken)
    {
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Mta.Turn");
        IPAddress address;
        try
        {
            address = IPAddress.TryParse(hostName, out var literal)
                ? literal
                : (await Dns.GetHostAddressesAsync(hostName, cancellationToken)).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
        }
        catch (Exception ex) when (ex is SocketException or InvalidOperationException or ArgumentException)
        {
            return Fail(NoConnection, $"{hostName}: cannot resolve: {ex.Message}");
        }
        var target = new SmtpTarget(hostName, address, port);
        var settings = new ConnectionSettings(options.Relay.HeloName ?? options.HostName, policy, request.User, password, options.Relay.Timeouts);
        SmtpClientConnection connection;
        try
        {
            connection = await SmtpClientConnection.OpenAsync(target, settings, logger, cancellationToken);
        }
        catch (SmtpSessionException ex)
        {
            return Fail(ex.Stage == SessionStage.Connect ? NoConnection : Refused, ex.Message);
        }
        await using (connection)
        {
            SmtpReply reply;
            try
            {
                reply = await connection.TurnAsync(cancellationToken);
            }
            catch (SmtpSessionException ex)
            {
                return Fail(Refused, ex.Message);
            }
            if (reply.Code != 250) return Fail(Refused, $"{target} refused TURN: {Describe(reply)}");

            var server = host.Services.GetRequiredService<SmtpServer>();
            var listener = new ListenerOptions { Name = "turn", Tls = ListenerTlsMode.None };
            var local = connection.LocalEndPoint ?? new IPEndPoint(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
            var served = await server.ServeAsync(connection.ReversedStream!, new IPEndPoint(address, port), local, listener, domains, cancellationToken);
            await connection.DisposeAsync();

            // What came in is on disk already; delivering it now is a courtesy, bounded like a shutdown. The rest stays
            // queued for the next `mta run` or `mta turn`.
            var queue = host.Services.GetRequiredService<QueueScheduler>();
            if (!await WaitForIdleQueueAsync(queue, options.ShutdownTimeout, cancellationToken))
                Console.Error.WriteLine($"queue still busy after {options.ShutdownTimeout}; the rest is delivered by the next run");
            var ended = served.CloseReason == "quit" ? "" : $" (session ended: {served.CloseReason})";
            Console.WriteLine($"received {served.MessagesAccepted} message(s) from {target}{ended}");
            return Ok;
        }
    }

    /// <summary>Waits until the queue has nothing to do now (every pending recipient waits for a retry), at most <paramref name="limit"/>.</summary>
    private static async Task<bool> WaitForIdleQueueAsync(QueueScheduler queue, TimeSpan limit, CancellationToken cancellationToken)
    {
        var until = DateTime.UtcNow + limit;
        while (!queue.IsIdle)
        {
            if (DateTime.UtcNow >= until) return false;
            await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
        }
        return true;
    }

    private static bool IsLocal(MtaOptions options, string domain) => options.LocalDomains.Contains(domain, Domain.NameComparer);

    /// <summary>HOST, HOST:PORT, [IPv6] or [IPv6]:PORT; the port defaults to 25.</summary>
    private static bool TryParseHost(string text, out string host, out int port)
    {
        host = text.Trim();
        port = 25;
        string? portText = null;
        if (host.StartsWith('['))
        {
            var close = host.IndexOf(']');
            if (close < 0) return false;
            var rest = host[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':') return false;
                portText = rest[1..];
            }
            host = host[1..close];
            if (!IPAddress.TryParse(host, out _)) return false;
        }
        else if (host.Count(c => c == ':') == 1)
        {
            portText = host[(host.IndexOf(':') + 1)..];
            host = host[..host.IndexOf(':')];
        }
        else if (host.Contains(':') && !IPAddress.TryParse(host, out _))
        {
            return false;
        }
        if (portText is not null && (!int.TryParse(portText, out port) || port is < 1 or > 65535)) return false;
        return host.Length > 0 && Uri.CheckHostName(host) != UriHostNameType.Unknown;
    }

    private static string Describe(SmtpReply reply) =>
        $"{reply.Code}{(reply.EnhancedCode is null ? "" : " " + reply.EnhancedCode)} {string.Join(' ', reply.Lines)}";

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine(message);
        return code;
    }
}
