// `mta terminal [USER]`: attach to the running server and print each terminal message (SEND, SOML, SAML) as it arrives.
using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Mta.Configuration;
using Mta.Engine.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Terminal;

namespace Mta;

/// <summary>
/// The <c>terminal</c> command. Exit codes: 0 stopped with Ctrl-C, 1 refused by the server (its reason is printed),
/// 2 bad usage or configuration, 3 no running server (or it stopped).
/// </summary>
public static class TerminalCommand
{
    /// <summary>The environment variable read for the token when <c>--token</c> is not given (keeps it out of <c>ps</c>).</summary>
    public const string TokenVariable = "MTA_TERMINAL_TOKEN";

    private const int Ok = 0, Refused = 1, Usage = 2, NoServer = 3;
    // The server limits text to Terminal:MaxTextBytes (at most 1 MiB); the client holds to that too, whatever it is sent.
    private const int MaxTextBytes = 1024 * 1024;

    /// <summary>Builds <c>mta terminal</c>, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var user = new Argument<string?>("USER")
        {
            Description = "The mailbox user to receive for (default: your login name; another user needs root or --token)",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var token = new Option<string?>("--token")
        {
            Description = $"The user's token from Terminal:Tokens, for a login name that is not the user (default: ${TokenVariable})",
        };
        var command = new Command("terminal", "Show terminal messages (SEND, SOML, SAML) for a user as they arrive, until Ctrl-C") { user, token, configOption };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, ct) => RunAsync(parse, configOption, parse.GetValue(user),
            parse.GetValue(token) ?? Environment.GetEnvironmentVariable(TokenVariable), ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, Option<FileInfo?> configOption, string? user, string? token, CancellationToken cancellationToken)
    {
        if (parse.UnmatchedTokens.Count > 0)
            return Fail(Usage, $"unexpected argument(s): {string.Join(' ', parse.UnmatchedTokens)}");
        LoadedConfig loaded;
        try
        {
            loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
        }
        catch (ConfigException ex)
        {
            return Fail(Usage, ex.Message);
        }
        // Ctrl-C (and SIGTERM) is the normal way out: handled here, so that it ends the wait and exits 0 instead of
        // killing the process by the signal.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.Cancel();
        }
        cancellationToken = stop.Token;
        var attached = false;
        try
        {
            await using var client = await ControlClient.ConnectAsync(new MtaPaths(loaded.Options).ControlSocketPath, cancellationToken);
            // Messages come when they come: no read timeout.
            client.ReadTimeout = Timeout.InfiniteTimeSpan;
            var args = new JsonObject();
            if (!string.IsNullOrWhiteSpace(user)) args["user"] = user;
            if (!string.IsNullOrEmpty(token)) args["token"] = token;
            await foreach (var response in client.SendAsync(TerminalControlCommands.Attach, args, cancellationToken))
            {
                if (!response.Ok) return Fail(Refused, Clean(response.Error ?? "the server refused"));
                var item = response.GetResult(TerminalControlJsonContext.Default.TerminalEvent);
                switch (item.Type)
                {
                    case "attached":
                        attached = true;
                        Console.WriteLine($"Waiting for terminal messages for {Clean(item.User ?? user ?? "")} (Ctrl-C to stop)");
                        break;
                    case "message":
                        Print(item);
                        break;
                    case "detached":
                        return Fail(NoServer, Clean(item.Reason ?? "the server ended the stream"));
                }
            }
            return Fail(NoServer, "the server ended the stream");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Ok;
        }
        catch (ControlServerUnavailableException ex)
        {
            return Fail(NoServer, ex.Message);
        }
        catch (ControlException) when (cancellationToken.IsCancellationRequested)
        {
            return Ok;
        }
        catch (ControlException ex)
        {
            // Lost after attaching: the server went away (stopped, killed). Before: the connection itself failed.
            return attached ? Fail(NoServer, $"the server closed the connection ({ex.Message})") : Fail(Refused, ex.Message);
        }
    }

    // Never trust the wire: sender, subject and text are sanitised again here before they reach this terminal.
    private static void Print(TerminalEvent item)
    {
        var from = Clean(item.From is { Length: > 0 } f ? f : "<>");
        var at = (item.ReceivedAt ?? DateTimeOffset.Now).ToLocalTime().ToString("HH:mm", CultureInfo.InvariantCulture);
        var subject = string.IsNullOrEmpty(item.Subject) ? "" : $" (subject: {Clean(item.Subject)})";
        var text = TerminalText.Limit(TerminalText.Sanitize(item.Text).Trim('\n'), MaxTextBytes);
        var output = Console.Out;
        output.WriteLine($"Message from {from} at {at}{subject}");
        output.WriteLine(text);
        output.WriteLine("\a");
        output.Flush();
    }

    private static string Clean(string text) => TerminalText.Sanitize(text, singleLine: true);

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"mta: {message}");
        return code;
    }
}
