// Logging:Format on a real `mta run`: JSON lines whose structured fields are properties, systemd priorities, and
// the systemd format chosen by itself when standard output is the journal stream.
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class LogFormatTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "mta-logfmt-" + Guid.NewGuid().ToString("n")[..12]);

    private string WriteConfig(string? format)
    {
        var logging = new Dictionary<string, object?>
        {
            ["LogLevel"] = new Dictionary<string, string> { ["Default"] = "Information" },
        };
        if (format is not null) logging["Format"] = format;
        return MtaProcess.WriteConfig(_root, extra: new Dictionary<string, object?> { ["Logging"] = logging });
    }

    [Fact]
    public async Task Json_format_writes_one_object_per_line_with_the_refusal_fields_as_properties()
    {
        var config = WriteConfig("json");
        await using var server = MtaProcess.Start("run", "--config", config);
        var listener = await WaitForJsonAsync(server, e => Int(e, "eventId") == 250);
        var port = int.Parse(Regex.Match(listener.GetProperty("message").GetString()!, @":(\d+)$").Groups[1].Value);

        await using (var client = await RawSmtpClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)))
        {
            Assert.Equal(250, (await client.CommandAsync("EHLO json.test")).Code);
            Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<someone@sender.test>")).Code);
            Assert.Equal(554, (await client.CommandAsync("RCPT TO:<victim@elsewhere.test>")).Code);
            await client.CommandAsync("QUIT");
        }
        var refusal = await WaitForJsonAsync(server, e => Int(e, "eventId") == 207);
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("Information", refusal.GetProperty("level").GetString());
        Assert.Equal("Mta.Session", refusal.GetProperty("category").GetString());
        Assert.Equal("RCPT", refusal.GetProperty("Command").GetString());
        Assert.Equal("unknown[127.0.0.1]", refusal.GetProperty("Client").GetString());
        Assert.Equal("json.test", refusal.GetProperty("Helo").GetString());
        Assert.Equal("<someone@sender.test>", refusal.GetProperty("From").GetString());
        Assert.Equal("<victim@elsewhere.test>", refusal.GetProperty("To").GetString());
        Assert.StartsWith("554 5.7.1", refusal.GetProperty("Reply").GetString());
        Assert.False(string.IsNullOrEmpty(refusal.GetProperty("SessionId").GetString()));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", refusal.GetProperty("timestamp").GetString()!);
        Assert.Contains("reject command=RCPT", refusal.GetProperty("message").GetString());
        // The template is in "message" already, filled in; it is not repeated.
        Assert.False(refusal.TryGetProperty("{OriginalFormat}", out _));

        // Every line the process wrote, start to stop, is one JSON object.
        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length >= 3, server.Output);
        foreach (var line in lines)
        {
            using var document = JsonDocument.Parse(line);
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
            Assert.True(document.RootElement.TryGetProperty("category", out _), line);
        }
    }

    [Fact]
    public async Task Systemd_format_prefixes_every_line_with_its_syslog_priority()
    {
        var config = WriteConfig("systemd");
        await using var server = MtaProcess.Start("run", "--config", config);
        await server.WaitForListenerAsync();
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));

        // Information is <6> (LOG_INFO); journald adds its own timestamp, so the line has none.
        Assert.Matches(new Regex(@"^<6>Mta\.Engine\.Receiver\.SmtpServer\[250\] listener smtp on 127\.0\.0\.1:\d+\s*$", RegexOptions.Multiline), server.Output);
        foreach (var line in server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.Matches(@"^<[0-7]>", line);
    }

    [Fact]
    public async Task Unset_format_is_systemd_when_standard_output_is_the_journal_stream()
    {
        var config = WriteConfig(null);
        // systemd sets JOURNAL_STREAM to the device:inode of the stream it connected to stdout; here a shell names
        // the inode of its own stdout (the test's pipe), then becomes mta.
        await using var server = MtaProcess.StartCommand("/bin/sh",
            ["-c", "JOURNAL_STREAM=0:$(stat -L -c %i /proc/$$/fd/1) exec dotnet \"$0\" \"$@\"", MtaProcess.MtaDll, "run", "--config", config]);
        await server.WaitForListenerAsync();
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Matches(new Regex(@"^<6>Mta\.Engine\.Receiver\.SmtpServer\[250\]", RegexOptions.Multiline), server.Output);
    }

    [Fact]
    public async Task Unset_format_stays_text_when_journal_stream_names_another_stream()
    {
        var config = WriteConfig(null);
        // Inherited from a service but with the output redirected elsewhere (here: to the test's pipe).
        await using var server = MtaProcess.StartWith(new Dictionary<string, string?> { ["JOURNAL_STREAM"] = "8:1" }, "run", "--config", config);
        await server.WaitForListenerAsync();
        server.Terminate();
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Matches(new Regex(@"^\d{4}-\d\d-\d\dT\S+ info: Mta\.Engine\.Receiver\.SmtpServer\[250\]", RegexOptions.Multiline), server.Output);
    }

    [Fact]
    public async Task Unknown_format_is_a_configuration_error_naming_the_key()
    {
        var config = WriteConfig("xml");
        var (exitCode, output) = await MtaProcess.RunToEndAsync("check", "--config", config);
        Assert.Equal(2, exitCode);
        Assert.Contains("Logging:Format: 'xml' is not a log format (text, json, systemd)", output);
    }

    private static int? Int(JsonElement e, string name) =>
        e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number ? p.GetInt32() : null;

    private static async Task<JsonElement> WaitForJsonAsync(MtaProcess server, Func<JsonElement, bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            foreach (var line in server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!line.StartsWith('{')) continue;
                using var document = JsonDocument.Parse(line);
                if (match(document.RootElement)) return document.RootElement.Clone();
            }
            if (server.HasExited || DateTime.UtcNow > deadline)
                throw new TimeoutException("log line not written:\n" + server.Output);
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
