// `mta test`: one transaction through the site's scripts and plugins, in-process, printing every hook's decision (haraka -t).
using System.CommandLine;
using System.Net;
using Mta.Configuration;
using Mta.Engine.Configuration;
using Mta.Testing;

namespace Mta;

public static class TestCommand
{
    private const int Accepted = 0;
    private const int Refused = 1;
    private const int Invalid = 2;

    /// <summary>Builds <c>mta test</c>, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var script = new Argument<FileInfo?>("SCRIPT")
        {
            Description = "Run only this script (a .csx file) instead of the configured scripts folder; plugins still load",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var from = new Option<string>("--from") { Description = "Envelope sender (MAIL FROM); empty for a bounce", Required = true };
        var to = new Option<string[]>("--to") { Description = "Envelope recipient (RCPT TO); repeat for more", Required = true, AllowMultipleArgumentsPerToken = true };
        var message = new Option<FileInfo?>("--message") { Description = "The message (header and body) to send after DATA; default: a short test message" };
        var ip = new Option<string?>("--ip") { Description = "The client's address as hooks see it (default 127.0.0.1)" };
        var helo = new Option<string>("--helo") { Description = "The EHLO name (default client.test)", DefaultValueFactory = _ => "client.test" };
        var test = new Command("test", "Run one SMTP transaction through the configured scripts and plugins in-process and print every hook's " +
            "decision; nothing is queued or delivered. Exit 0 when the message is accepted, 1 when refused")
        {
            script, from, to, message, ip, helo, configOption,
        };
        test.SetAction(async (parse, cancellationToken) =>
        {
            LoadedConfig loaded;
            try
            {
                loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
            }
            catch (ConfigException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message);
                return Invalid;
            }
            var address = parse.GetValue(ip);
            if (address is not null && !IPAddress.TryParse(address, out _))
            {
                await Console.Error.WriteLineAsync($"--ip: '{address}' is not an IP address");
                return Invalid;
            }
            var messageFile = parse.GetValue(message);
            var content = messageFile is null
                ? $"From: <{parse.GetValue(from)}>\nTo: <{string.Join(">, <", parse.GetValue(to)!)}>\nSubject: mta test\nMessage-ID: <{Guid.NewGuid():n}@mta.test>\n\nA test message from mta test.\n"
                : await File.ReadAllTextAsync(messageFile.FullName, cancellationToken);
            var transaction = new Transaction(parse.GetValue(from)!, parse.GetValue(to)!, content, address, parse.GetValue(helo)!);
            return await RunAsync(loaded.Options, parse.GetValue(script)?.FullName, transaction, Console.Out, cancellationToken);
        });
        return test;
    }

    /// <summary>What <c>mta test</c> sends.</summary>
    public sealed record Transaction(string From, IReadOnlyList<string> To, string Message, string? ClientAddress, string Helo);

    /// <summary>Starts the engine on the site's options (a loopback listener on port 0, state in a temporary folder,
    /// accepted mail held), sends <paramref name="transaction"/>, prints the dialogue and every handler's decision.</summary>
    /// <returns>0 when the message was accepted, 1 when refused (or the session failed), 2 when the engine did not start.</returns>
    public static async Task<int> RunAsync(MtaOptions options, string? onlyScript, Transaction transaction, TextWriter output,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(output);
        var temp = Path.Combine(Path.GetTempPath(), "mta-test-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(temp);
        try
        {
            Isolate(options, temp, onlyScript);
            await using var server = await StartAsync(options, output, cancellationToken);
            if (server is null) return Invalid;
            var accepted = await SendAsync(server, transaction, output, cancellationToken);
            foreach (var problem in server.Problems) await output.WriteLineAsync("log: " + problem);
            await output.WriteLineAsync(accepted ? "result: accepted" : "result: refused");
            return accepted ? Accepted : Refused;
        }
        finally
        {
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The site's options made safe to run beside a live server: its own loopback listener, data folder (queue,
    /// control socket) and no pickup; the files the site keeps in its data folder are still read from there.</summary>
    private static void Isolate(MtaOptions options, string temp, string? onlyScript)
    {
        var site = new MtaPaths(options);
        options.Auth.UsersFile = site.ResolveInData(options.Auth.UsersFile);
        options.Authentication.Signing.KeyDirectory = site.ResolveInData(options.Authentication.Signing.KeyDirectory);
        foreach (var selector in options.Authentication.Signing.Domains.Values.SelectMany(d => d.Selectors).Where(s => !string.IsNullOrEmpty(s.KeyFile)))
            selector.KeyFile = site.ResolveInData(selector.KeyFile!);
        options.Scripts.Directory = site.Resolve(options.Scripts.Directory);
        options.PluginsDirectory = site.Resolve(options.PluginsDirectory);
        options.DataDirectory = temp;
        options.Queue.Path = "queue";
        options.Mailboxes.Root = "maildir";
        options.Pickup.Enabled = false;
        options.Scripts.Watch = false;
        options.Listeners = [new ListenerOptions { Name = "smtp", Address = "127.0.0.1", Port = 0, Tls = ListenerTlsMode.None }];
        // The client claims its --ip with XCLIENT, which the engine honours from this loopback client only.
        options.XClient.Networks = ["127.0.0.1/32"];
        options.Limits.ConnectionLimitExceptions = null;
        if (onlyScript is not null)
        {
            var folder = Path.Combine(temp, "scripts");
            Directory.CreateDirectory(folder);
            File.Copy(onlyScript, Path.Combine(folder, Path.GetFileName(onlyScript)));
            // #load of helpers keeps working: they are found beside the original.
            var lib = Path.Combine(Path.GetDirectoryName(onlyScript)!, "lib");
            if (Directory.Exists(lib)) CopyFolder(lib, Path.Combine(folder, "lib"));
            options.Scripts.Directory = folder;
            options.Scripts.Enabled = true;
        }
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var folder in Directory.GetDirectories(from)) CopyFolder(folder, Path.Combine(to, Path.GetFileName(folder)));
    }

    private static async Task<PolicyTestServer?> StartAsync(MtaOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        try
        {
            return await PolicyTestServer.StartAsync(options, holdMessages: true, ownsRoot: false, cancellationToken);
        }
        catch (Exception ex) when (ex is InvalidOperationException or StartupException or AggregateException or IOException)
        {
            await output.WriteLineAsync($"the server did not start: {ex.Message}");
            return null;
        }
    }

    /// <summary>Sends the transaction, printing each command, reply and the decisions made meanwhile; true when the
    /// message was accepted (250 after the data).</summary>
    private static async Task<bool> SendAsync(PolicyTestServer server, Transaction transaction, TextWriter output, CancellationToken cancellationToken)
    {
        await using var client = await server.ConnectAsync(cancellationToken);
        var shown = 0;
        async Task<SmtpTestReply> Step(string? line, Func<Task<SmtpTestReply>> exchange)
        {
            if (line is not null) await output.WriteLineAsync("> " + line);
            var reply = await exchange();
            // The reply comes after the hooks that decided it: print those first.
            var decisions = server.Decisions;
            for (; shown < decisions.Count; shown++)
            {
                var d = decisions[shown];
                await output.WriteLineAsync($"  hook {d.Hook,-20} {d.Handler,-30} {d.Result}");
            }
            foreach (var replyLine in reply.ToString().Split('\n')) await output.WriteLineAsync("< " + replyLine);
            return reply;
        }
        Task<SmtpTestReply> Command(string line) => Step(line, async () =>
        {
            await client.SendLineAsync(line, cancellationToken);
            return await client.ReadReplyAsync(cancellationToken);
        });

        try
        {
            if ((await Step(null, () => client.ReadReplyAsync(cancellationToken))).Code != 220) return false;
            if ((await Command("EHLO " + transaction.Helo)).Code != 250) return false;
            if (transaction.ClientAddress is { } address)
            {
                // XCLIENT restarts the session as the given client: connect hooks run again, and a new greeting and EHLO follow.
                if ((await Command($"XCLIENT ADDR={address} NAME=[UNAVAILABLE] HELO={transaction.Helo}")).Code != 220) return false;
                if ((await Command("EHLO " + transaction.Helo)).Code != 250) return false;
            }
            if ((await Command($"MAIL FROM:<{transaction.From}>")).Code != 250) return false;
            var recipients = 0;
            foreach (var to in transaction.To)
                if ((await Command($"RCPT TO:<{to}>")).Code is 250 or 251) recipients++;
            if (recipients == 0) return false;
            if ((await Command("DATA")).Code != 354) return false;
            var final = await Step("<message>", () => client.SendDataAsync(transaction.Message, cancellationToken));
            await Command("QUIT");
            return final.Code == 250;
        }
        catch (IOException ex)
        {
            await output.WriteLineAsync($"connection closed: {ex.Message.Split('\n')[0]}");
            return false;
        }
    }
}
