// `mta auth spf|verify`: the server's SPF, DKIM, DMARC and ARC checks on the command line, as spfquery and opendkim-testmsg.
using System.CommandLine;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Mta.Abstractions;
using Mta.Configuration;
using Mta.Engine.Authentication;
using Mta.Engine.Authentication.Spf;
using Mta.Engine.Configuration;

namespace Mta;

/// <summary>The <c>auth</c> command. Exit codes: <c>spf</c> 0 for pass, 1 for any other result; <c>verify</c> 0 when
/// every check ran; 2 for bad usage or configuration.</summary>
public static class AuthCommand
{
    private const int Ok = 0, NotPass = 1, Usage = 2;

    /// <summary>Builds <c>mta auth</c>, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var ip = new Option<string?>("--ip") { Description = "The SMTP client's address" };
        var sender = new Option<string?>("--sender") { Description = "The MAIL FROM address (empty for <>)" };
        var helo = new Option<string?>("--helo") { Description = "The HELO/EHLO name" };
        var dns = DnsOption();

        var spf = new Command("spf", "Evaluate SPF (RFC 7208) for a client address, MAIL FROM and HELO, as the server would") { ip, sender, helo, dns, configOption };
        spf.SetAction(async (parse, ct) =>
        {
            if (!TryParseIp(parse.GetValue(ip), required: true, out var address)) return Usage;
            var heloName = parse.GetValue(helo);
            if (parse.GetValue(sender) is null && heloName is null) return Fail("give --sender, --helo or both");
            if (!TryLoad(parse, configOption, dns, out var options)) return Usage;
            await using var services = Services(options);
            var evaluator = services.GetRequiredService<SpfEvaluator>();
            var result = SpfResult.None;
            if (heloName is not null)
            {
                var check = await evaluator.CheckHeloAsync(address!, heloName, ct);
                Print("smtp.helo", check);
                result = check.Result;
            }
            if (parse.GetValue(sender) is { } from)
            {
                if (!TryParseSender(from, out var path)) return Usage;
                var check = await evaluator.CheckMailFromAsync(address!, path, heloName, ct);
                Print("smtp.mailfrom", check);
                result = check.Result;
            }
            return result == SpfResult.Pass ? Ok : NotPass;
        });

        var file = new Argument<FileInfo>("FILE") { Description = "The message (RFC 5322, as received); - for standard input" };
        var verify = new Command("verify", "Check a message's DKIM signatures, ARC chain, SPF (with --ip) and DMARC; print the Authentication-Results field the server would add")
            { file, ip, sender, helo, dns, configOption };
        verify.SetAction(async (parse, ct) =>
        {
            if (!TryParseIp(parse.GetValue(ip), required: false, out var address)) return Usage;
            if (!TryParseSender(parse.GetValue(sender) ?? "", out var path)) return Usage;
            if (!TryLoad(parse, configOption, dns, out var options)) return Usage;
            // Without a client address there is no SPF to check; everything else is in the message.
            options.Authentication.Verify.Enabled = true;
            if (address is null) options.Authentication.Verify.Spf = false;
            byte[] bytes;
            try
            {
                var name = parse.GetValue(file)!.ToString();
                bytes = name == "-" ? await ReadAllAsync(Console.OpenStandardInput(), ct) : await File.ReadAllBytesAsync(parse.GetValue(file)!.FullName, ct);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Fail(ex.Message);
            }
            await using var services = Services(options);
            var authenticator = services.GetRequiredService<InboundAuthenticator>();
            var results = await authenticator.VerifyAsync(address ?? IPAddress.None, parse.GetValue(helo), path, new MessageFile(Crlf(bytes)), ct);
            Console.WriteLine($"{AuthenticationResultsField.Name}: {AuthenticationResultsField.Build(results, authenticator.ChecksDkim)}");
            return Ok;
        });

        return new Command("auth", "Mail authentication checks (SPF, DKIM, DMARC, ARC) as the server makes them") { spf, verify };
    }

    /// <summary><c>--dns IP:PORT</c>: the resolver to ask instead of <c>Dns:Servers</c>.</summary>
    internal static Option<string[]> DnsOption() => new("--dns")
    {
        Description = "DNS server to ask (IP or IP:PORT; repeatable), instead of Dns:Servers",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Loads the configuration with <c>--dns</c> applied; false (after saying why) when it is unusable.</summary>
    internal static bool TryLoad(ParseResult parse, Option<FileInfo?> configOption, Option<string[]> dns, out MtaOptions options)
    {
        options = null!;
        try
        {
            options = ConfigLoader.Load(parse.GetValue(configOption)?.FullName).Options;
        }
        catch (ConfigException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return false;
        }
        if (parse.GetValue(dns) is { Length: > 0 } servers)
        {
            foreach (var server in servers)
            {
                if (Engine.Dns.DnsResolver.TryParseServer(server) is null)
                {
                    Console.Error.WriteLine($"--dns: '{server}' is not IP or IP:PORT");
                    return false;
                }
            }
            options.Dns.Servers = [.. servers];
        }
        return true;
    }

    private static ServiceProvider Services(MtaOptions options)
    {
        var services = new ServiceCollection();
        // Diagnostics to standard error; standard output carries only the result.
        services.AddLogging(l => l.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
        services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new MtaPaths(options));
        services.AddMtaAuthentication();
        return services.BuildServiceProvider();
    }

    private static void Print(string property, SpfCheck check)
    {
        var result = check.Result.ToString().ToLowerInvariant();
        Console.WriteLine(check.Detail is { } detail
            ? $"spf={result} {property}={check.Identity} ({detail})"
            : $"spf={result} {property}={check.Identity}");
    }

    private static bool TryParseIp(string? text, bool required, out IPAddress? address)
    {
        address = null;
        if (text is null)
        {
            if (required) Console.Error.WriteLine("--ip is required");
            return !required;
        }
        if (IPAddress.TryParse(text, out address)) return true;
        Console.Error.WriteLine($"--ip: '{text}' is not an IP address");
        return false;
    }

    private static bool TryParseSender(string text, out SmtpAddress address)
    {
        address = SmtpAddress.Null;
        text = text.Trim();
        if (text is "" or "<>") return true;
        var at = text.Trim('<', '>').LastIndexOf('@');
        var bare = text.Trim('<', '>');
        if (at > 0 && at < bare.Length - 1)
        {
            address = new SmtpAddress(bare[..at], bare[(at + 1)..]);
            return true;
        }
        Console.Error.WriteLine($"--sender: '{text}' is not local@domain");
        return false;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message);
        return Usage;
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    /// <summary>A file saved with LF line endings gets CRLF, as it would have on the wire.</summary>
    internal static byte[] Crlf(byte[] bytes)
    {
        if (bytes.AsSpan().IndexOf("\r\n"u8) >= 0 || bytes.AsSpan().IndexOf((byte)'\n') < 0) return bytes;
        var text = System.Text.Encoding.Latin1.GetString(bytes).Replace("\n", "\r\n");
        return System.Text.Encoding.Latin1.GetBytes(text);
    }

    /// <summary>A message read from a file, readable as the receiver's buffered message is.</summary>
    private sealed class MessageFile(byte[] bytes) : IMessageContent
    {
        private MimeKit.MimeMessage? _parsed;
        public long Size => bytes.Length;
        public Stream OpenRead() => new MemoryStream(bytes, writable: false);
        public async ValueTask<MimeKit.MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
            => _parsed ??= await MimeKit.MimeMessage.LoadAsync(OpenRead(), cancellationToken);
    }
}
