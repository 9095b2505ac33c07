// `mta queue list|show|flush|delete|hold|release`: inspect and act on a running server's queue through its control socket.
using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Mta.Configuration;
using Mta.Engine.Configuration;
using Mta.Engine.Control;

namespace Mta;

/// <summary>The <c>queue</c> command. Exit codes: 0 done, 1 not found (or the server failed), 2 bad usage, 3 no running server.</summary>
public static class QueueCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2, NoServer = 3;
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>Builds <c>mta queue</c> with its sub-commands, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var json = new Option<bool>("--json") { Description = "One JSON object per message and line (as postqueue -j), every recipient included" };
        var list = new Command("list", "List queued messages as mailq does: id, size, arrival, sender, and each pending recipient") { json, configOption };
        list.TreatUnmatchedTokensAsErrors = false;
        list.SetAction((parse, ct) => RunAsync(parse, configOption, null, (client, ct) => ListAsync(client, parse.GetValue(json), ct), ct));

        var showId = IdArgument();
        var full = new Option<bool>("--full") { Description = "The whole message instead of its header and the first 8 KiB of the body" };
        var show = new Command("show", "Show one message: its envelope with every recipient's state, then the message") { showId, full, configOption };
        show.TreatUnmatchedTokensAsErrors = false;
        show.SetAction((parse, ct) => RunAsync(parse, configOption,
            string.IsNullOrEmpty(parse.GetValue(showId)) ? "a queue ID argument is required" : null,
            (client, ct) => ShowAsync(client, parse.GetValue(showId)!, parse.GetValue(full), ct), ct));

        var flushId = IdArgument();
        var domain = new Option<string?>("--domain", "-d") { Description = "Only recipients in this domain" };
        var flush = new Command("flush", "Retry deferred recipients now: all, one message's (ID), or one domain's") { flushId, domain, configOption };
        flush.TreatUnmatchedTokensAsErrors = false;
        flush.SetAction((parse, ct) => RunAsync(parse, configOption, null,
            (client, ct) => FlushAsync(client, parse.GetValue(flushId), parse.GetValue(domain), ct), ct));

        var deleteIds = new Argument<string[]>("ID") { Description = "Queue ids to delete", Arity = ArgumentArity.ZeroOrMore };
        var delete = new Command("delete", "Delete messages from the queue without a bounce (as postsuper -d)") { deleteIds, configOption };
        delete.TreatUnmatchedTokensAsErrors = false;
        delete.SetAction((parse, ct) => RunAsync(parse, configOption,
            parse.GetValue(deleteIds) is not { Length: > 0 } ? "at least one queue ID argument is required" : null,
            (client, ct) => DeleteAsync(client, parse.GetValue(deleteIds)!, ct), ct));

        var holdIds = new Argument<string[]>("ID") { Description = "Queue ids to put on hold", Arity = ArgumentArity.ZeroOrMore };
        var hold = new Command("hold", "Put messages on hold: never delivered, never expired, untouched by flush, until released (as postsuper -h)") { holdIds, configOption };
        hold.TreatUnmatchedTokensAsErrors = false;
        hold.SetAction((parse, ct) => RunAsync(parse, configOption,
            parse.GetValue(holdIds) is not { Length: > 0 } ? "at least one queue ID argument is required" : null,
            (client, ct) => HoldAsync(client, QueueControlCommands.Hold, parse.GetValue(holdIds)!, ct), ct));

        var releaseIds = new Argument<string[]>("ID") { Description = "Queue ids to release from hold", Arity = ArgumentArity.ZeroOrMore };
        var release = new Command("release", "Release held messages: their recipients are tried now (as postsuper -H)") { releaseIds, configOption };
        release.TreatUnmatchedTokensAsErrors = false;
        release.SetAction((parse, ct) => RunAsync(parse, configOption,
            parse.GetValue(releaseIds) is not { Length: > 0 } ? "at least one queue ID argument is required" : null,
            (client, ct) => HoldAsync(client, QueueControlCommands.Release, parse.GetValue(releaseIds)!, ct), ct));

        return new Command("queue", "Inspect and manage the running server's queue") { list, show, flush, delete, hold, release };
    }

    private static Argument<string?> IdArgument() =>
        new("ID") { Description = "A queue id, as in '250 2.0.0 Ok: queued as ID'", Arity = ArgumentArity.ZeroOrOne };

    // Usage and configuration first (exit 2), then the socket (exit 3 when no server), then the sub-command. `mta status`
    // runs through it too, so the commands that ask the running server agree on their exit codes.
    internal static async Task<int> RunAsync(ParseResult parse, Option<FileInfo?> configOption, string? usageError,
        Func<ControlClient, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        if (parse.UnmatchedTokens.Count > 0)
            return Fail(Usage, $"unexpected argument(s): {string.Join(' ', parse.UnmatchedTokens)}");
        if (usageError is not null) return Fail(Usage, usageError);
        LoadedConfig loaded;
        try
        {
            loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
        }
        catch (ConfigException ex)
        {
            return Fail(Usage, ex.Message);
        }
        try
        {
            await using var client = await ControlClient.ConnectAsync(new MtaPaths(loaded.Options).ControlSocketPath, cancellationToken);
            return await action(client, cancellationToken);
        }
        catch (ControlServerUnavailableException ex)
        {
            return Fail(NoServer, ex.Message);
        }
        catch (ControlCommandException ex)
        {
            return Fail(ex.Code == ControlErrorCodes.BadRequest ? Usage : Failed, ex.Message);
        }
        catch (ControlException ex)
        {
            return Fail(Failed, ex.Message);
        }
    }

    internal static async Task<int> ListAsync(ControlClient client, bool json, CancellationToken cancellationToken)
    {
        var entries = new List<QueueEntrySnapshot>();
        var lines = new List<string>();
        QueueListSummary? summary = null;
        await foreach (var response in client.SendAsync(QueueControlCommands.List, null, cancellationToken))
        {
            if (response.More)
            {
                entries.Add(response.GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot));
                if (json) lines.Add(response.Result.GetRawText());
            }
            else
            {
                summary = response.GetResult(QueueControlJsonContext.Default.QueueListSummary);
            }
        }
        var output = Console.Out;
        if (json)
        {
            foreach (var line in lines) await output.WriteLineAsync(line);
            return Ok;
        }
        if (entries.Count == 0)
        {
            await output.WriteLineAsync("Mail queue is empty");
            return Ok;
        }
        var idWidth = Math.Max(10, entries.Max(e => e.QueueId.Length) + 1);
        await output.WriteLineAsync($"{"-Queue ID-".PadRight(idWidth)}  {"--Size--",8}  {"--Arrival Time--",-19}  -Sender/Recipient-------");
        foreach (var entry in entries)
        {
            // mailq's mark: '!' after the id of a message on hold (every recipient still pending is held).
            var pending = entry.Recipients.Where(r => !IsFinal(r.State)).ToArray();
            var id = pending.Length > 0 && pending.All(r => r.State == QueueRecipientState.Held) ? entry.QueueId + "!" : entry.QueueId;
            await output.WriteLineAsync($"{id.PadRight(idWidth)}  {entry.Size,8}  {ShortDate(entry.ReceivedAt),-19}  {Sender(entry.Sender)}");
            foreach (var recipient in entry.Recipients.Where(r => !IsFinal(r.State)))
            {
                await output.WriteLineAsync($"    {recipient.Address}  {Describe(recipient)}");
                if (!string.IsNullOrEmpty(recipient.LastError)) await output.WriteLineAsync($"        ({recipient.LastError})");
            }
            await output.WriteLineAsync();
        }
        var total = summary?.Size ?? entries.Sum(e => e.Size);
        var count = summary?.Messages ?? entries.Count;
        await output.WriteLineAsync($"-- {(total + 1023) / 1024} KiB in {count} {(count == 1 ? "message" : "messages")}.");
        return Ok;
    }

    private static async Task<int> ShowAsync(ControlClient client, string id, bool full, CancellationToken cancellationToken)
    {
        var args = new JsonObject { ["id"] = id, ["full"] = full };
        var output = Console.Out;
        Stream? stdout = null;
        var lastByte = (byte)'\n';
        try
        {
            await foreach (var response in client.SendAsync(QueueControlCommands.Show, args, cancellationToken))
            {
                if (!response.More)
                {
                    var end = response.GetResult(QueueControlJsonContext.Default.QueueShowEnd);
                    if (stdout is not null) await stdout.FlushAsync(cancellationToken);
                    if (end.Truncated)
                    {
                        if (lastByte != (byte)'\n') await output.WriteLineAsync();
                        await output.WriteLineAsync($"[... cut after the header and {QueueControlCommands.DefaultBodyLimit / 1024} KiB of the body; 'mta queue show {id} --full' shows all]");
                    }
                    break;
                }
                if (stdout is null)
                {
                    await WriteEnvelopeAsync(output, response.GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot));
                    await output.WriteLineAsync();
                    await output.FlushAsync(cancellationToken);
                    // The message goes out as stored octets, so 8-bit text and --full > file stay exact.
                    stdout = Console.OpenStandardOutput();
                    continue;
                }
                var chunk = Convert.FromBase64String(response.GetResult(QueueControlJsonContext.Default.QueueMessageChunk).Data);
                if (chunk.Length == 0) continue;
                await stdout.WriteAsync(chunk, cancellationToken);
                lastByte = chunk[^1];
            }
        }
        catch (FormatException ex)
        {
            throw new ControlException($"unexpected response from the server: {ex.Message}", ex);
        }
        finally
        {
            if (stdout is not null) await stdout.DisposeAsync();
        }
        return Ok;
    }

    private static async Task WriteEnvelopeAsync(TextWriter output, QueueEntrySnapshot entry)
    {
        await output.WriteLineAsync($"Queue ID:   {entry.QueueId}");
        await output.WriteLineAsync($"Arrival:    {LongDate(entry.ReceivedAt)}");
        await output.WriteLineAsync($"Size:       {entry.Size} bytes");
        await output.WriteLineAsync($"Sender:     {Sender(entry.Sender)}");
        foreach (var recipient in entry.Recipients)
        {
            await output.WriteLineAsync($"Recipient:  {recipient.Address}  {Describe(recipient)}");
            if (!string.IsNullOrEmpty(recipient.LastError)) await output.WriteLineAsync($"            ({recipient.LastError})");
        }
    }

    internal static async Task<int> FlushAsync(ControlClient client, string? id, string? domain, CancellationToken cancellationToken)
    {
        var args = new JsonObject();
        if (!string.IsNullOrEmpty(id)) args["id"] = id;
        if (!string.IsNullOrEmpty(domain)) args["domain"] = domain;
        var response = await client.RequestAsync(QueueControlCommands.Flush, args, cancellationToken);
        if (response is { Ok: false, Code: ControlErrorCodes.NotFound }) return Fail(Failed, response.Error!);
        var result = response.GetResult(QueueControlJsonContext.Default.QueueFlushResult);
        Console.WriteLine($"{result.Scheduled} {(result.Scheduled == 1 ? "recipient" : "recipients")} scheduled for delivery now");
        return Ok;
    }

    private static async Task<int> DeleteAsync(ControlClient client, string[] ids, CancellationToken cancellationToken)
    {
        var args = new JsonObject { ["ids"] = new JsonArray([.. ids.Select(i => (JsonNode?)JsonValue.Create(i))]) };
        var response = await client.RequestAsync(QueueControlCommands.Delete, args, cancellationToken);
        var result = response.GetResult(QueueControlJsonContext.Default.QueueDeleteResult);
        return PrintOutcomes("deleted", result.Results.Select(o => (o.Id, o.Found, o.Deleted)));
    }

    private static async Task<int> HoldAsync(ControlClient client, string command, string[] ids, CancellationToken cancellationToken)
    {
        var args = new JsonObject { ["ids"] = new JsonArray([.. ids.Select(i => (JsonNode?)JsonValue.Create(i))]) };
        var response = await client.RequestAsync(command, args, cancellationToken);
        var result = response.GetResult(QueueControlJsonContext.Default.QueueHoldResult);
        var verb = command == QueueControlCommands.Hold ? "held" : "released";
        return PrintOutcomes(verb, result.Results.Select(o => (o.Id, o.Found, o.Recipients)));
    }

    // One line per id asked for; an unknown id fails the command (exit 1) after every line is printed.
    private static int PrintOutcomes(string verb, IEnumerable<(string Id, bool Found, int Recipients)> outcomes)
    {
        var code = Ok;
        foreach (var (id, found, recipients) in outcomes)
        {
            if (found)
            {
                Console.WriteLine($"{id}: {verb} {recipients} {(recipients == 1 ? "recipient" : "recipients")}");
            }
            else
            {
                Console.WriteLine($"{id}: no such message");
                code = Failed;
            }
        }
        return code;
    }

    private static bool IsFinal(QueueRecipientState state) => !state.IsPending();

    // "deferred, 2 attempts, next Tue Jun 03 12:30:00"
    private static string Describe(RecipientSnapshot recipient)
    {
        var text = new StringBuilder(recipient.State.ToDisplayName());
        text.Append(", ").Append(recipient.Attempts.ToString(Invariant)).Append(recipient.Attempts == 1 ? " attempt" : " attempts");
        if (recipient.NextAttempt is { } next) text.Append(", next ").Append(ShortDate(next));
        return text.ToString();
    }

    // mailq shows the null reverse-path as MAILER-DAEMON.
    private static string Sender(string sender) => sender.Length == 0 ? "MAILER-DAEMON" : sender;

    private static string ShortDate(DateTimeOffset time) => time.ToLocalTime().ToString("ddd MMM dd HH:mm:ss", Invariant);

    private static string LongDate(DateTimeOffset time) => time.ToLocalTime().ToString("ddd MMM dd HH:mm:ss yyyy zzz", Invariant);

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"mta: {message}");
        return code;
    }
}
