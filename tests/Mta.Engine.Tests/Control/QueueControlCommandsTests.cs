// queue.list / show / flush / delete round-trips through ControlClient and a ControlServer over a fake queue.
using System.Text;
using System.Text.Json.Nodes;
using Mta.Engine.Control;

namespace Mta.Engine.Tests.Control;

public sealed class QueueControlCommandsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Arrival = new(2025, 6, 1, 12, 0, 0, TimeSpan.FromHours(2));

    private static QueueEntrySnapshot Deferred(string id, string sender = "alice@example.test") => new(id, Arrival, 1234, sender,
    [
        new RecipientSnapshot("bob@remote.test", QueueRecipientState.Deferred, 2, Arrival.AddMinutes(30), "connect to mx.remote.test[192.0.2.1]:25: Connection refused"),
        new RecipientSnapshot("carol@example.test", QueueRecipientState.Delivered, 0, null, null),
        new RecipientSnapshot("dave@other.test", QueueRecipientState.Ready, 0, null, null),
    ]);

    [Fact]
    public async Task List_streams_every_message_then_a_summary()
    {
        await using var harness = await new ControlHarness().StartAsync();
        harness.Queue.Add(Deferred("4Xq2AAAA"), "x"u8.ToArray());
        harness.Queue.Add(Deferred("4Xq2BBBB", sender: "") with { Size = 2000 }, "y"u8.ToArray());
        await using var client = await harness.ConnectAsync();

        var lines = new List<ControlResponse>();
        await foreach (var line in client.SendAsync(QueueControlCommands.List, null, Ct)) lines.Add(line);

        Assert.Equal(3, lines.Count);
        Assert.True(lines[0].More && lines[1].More && !lines[2].More);
        var first = lines[0].GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot);
        Assert.Equal("4Xq2AAAA", first.QueueId);
        Assert.Equal(Arrival, first.ReceivedAt);
        Assert.Equal(Deferred("4Xq2AAAA").Recipients, first.Recipients);
        Assert.Equal("", lines[1].GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot).Sender);
        Assert.Equal(new QueueListSummary(2, 3234), lines[2].GetResult(QueueControlJsonContext.Default.QueueListSummary));

        // The wire shape the CLI's --json prints: camelCase, nulls left out.
        var json = lines[0].Result.GetRawText();
        Assert.Contains("\"queueId\":\"4Xq2AAAA\"", json);
        Assert.Contains("\"nextAttempt\":\"2025-06-01T12:30:00+02:00\"", json);
        Assert.Contains("\"lastError\":\"connect to mx.remote.test[192.0.2.1]:25: Connection refused\"", json);
        Assert.DoesNotContain("null", json);
    }

    [Fact]
    public async Task List_of_an_empty_queue_is_just_the_summary()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var client = await harness.ConnectAsync();
        var response = await client.RequestAsync(QueueControlCommands.List, null, Ct);
        Assert.Equal(new QueueListSummary(0, 0), response.GetResult(QueueControlJsonContext.Default.QueueListSummary));
    }

    private static async Task<(QueueEntrySnapshot Entry, byte[] Message, QueueShowEnd End)> ShowAsync(ControlClient client, JsonObject args)
    {
        QueueEntrySnapshot? entry = null;
        QueueShowEnd? end = null;
        var message = new MemoryStream();
        await foreach (var line in client.SendAsync(QueueControlCommands.Show, args, Ct))
        {
            if (!line.More) end = line.GetResult(QueueControlJsonContext.Default.QueueShowEnd);
            else if (entry is null) entry = line.GetResult(QueueControlJsonContext.Default.QueueEntrySnapshot);
            else message.Write(Convert.FromBase64String(line.GetResult(QueueControlJsonContext.Default.QueueMessageChunk).Data));
        }
        return (entry!, message.ToArray(), end!);
    }

    [Fact]
    public async Task Show_sends_the_envelope_the_header_and_the_start_of_the_body_or_with_full_all_of_it()
    {
        await using var harness = await new ControlHarness().StartAsync();
        var header = Encoding.ASCII.GetBytes("Received: from client\r\nSubject: test\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        // 8-bit octets that are not UTF-8 must come back unchanged.
        var body = Enumerable.Range(0, 100 * 1024).Select(i => (byte)(i % 251)).ToArray();
        var stored = header.Concat(body).ToArray();
        harness.Queue.Add(Deferred("4Xq2AAAA"), stored);
        await using var client = await harness.ConnectAsync();

        var preview = await ShowAsync(client, new JsonObject { ["id"] = "4Xq2AAAA" });
        Assert.Equal("4Xq2AAAA", preview.Entry.QueueId);
        Assert.Equal(3, preview.Entry.Recipients.Count);
        Assert.Equal(stored.AsSpan(0, header.Length + 8192).ToArray(), preview.Message);
        Assert.Equal(new QueueShowEnd(header.Length + 8192, Truncated: true), preview.End);

        var headerOnly = await ShowAsync(client, new JsonObject { ["id"] = "4Xq2AAAA", ["bodyLimit"] = 0 });
        Assert.Equal(header, headerOnly.Message);
        Assert.True(headerOnly.End.Truncated);

        var full = await ShowAsync(client, new JsonObject { ["id"] = "4Xq2AAAA", ["full"] = true });
        Assert.Equal(stored, full.Message);
        Assert.Equal(new QueueShowEnd(stored.Length, Truncated: false), full.End);
    }

    [Theory]
    [InlineData("Subject: x\n\nshort body\n")]          // bare LF line ends
    [InlineData("Subject: x\r\n\r\nshort body\r\n")]    // shorter than the limit: not truncated
    [InlineData("Subject: only a header, no body\r\n")]
    [InlineData("\r\nbody without a header section\r\n")]
    public async Task Show_of_a_short_message_sends_it_whole(string text)
    {
        await using var harness = await new ControlHarness().StartAsync();
        harness.Queue.Add(Deferred("4Xq2AAAA"), Encoding.ASCII.GetBytes(text));
        await using var client = await harness.ConnectAsync();
        var shown = await ShowAsync(client, new JsonObject { ["id"] = "4Xq2AAAA" });
        Assert.Equal(text, Encoding.ASCII.GetString(shown.Message));
        Assert.False(shown.End.Truncated);
    }

    [Fact]
    public async Task Show_finds_the_header_end_across_chunk_boundaries()
    {
        await using var harness = await new ControlHarness().StartAsync();
        // A header section far longer than one 24 KiB chunk, with its CRLFCRLF split over the boundary.
        var header = "X-Long: " + new string('h', 24 * 1024 - 10) + "\r\n\r\n";
        var message = Encoding.ASCII.GetBytes(header + new string('b', 20 * 1024));
        harness.Queue.Add(Deferred("4Xq2AAAA"), message);
        await using var client = await harness.ConnectAsync();
        var shown = await ShowAsync(client, new JsonObject { ["id"] = "4Xq2AAAA", ["bodyLimit"] = 100 });
        Assert.Equal(header.Length + 100, shown.Message.Length);
        Assert.True(shown.End.Truncated);
    }

    [Fact]
    public async Task Show_of_an_unknown_id_is_not_found_and_bad_arguments_are_bad_requests()
    {
        await using var harness = await new ControlHarness().StartAsync();
        await using var client = await harness.ConnectAsync();

        var missing = await client.RequestAsync(QueueControlCommands.Show, new JsonObject { ["id"] = "NOPE" }, Ct);
        Assert.False(missing.Ok);
        Assert.Equal(ControlErrorCodes.NotFound, missing.Code);
        Assert.Equal("no such message: NOPE", missing.Error);

        foreach (var args in new[] { new JsonObject(), new JsonObject { ["id"] = 5 }, new JsonObject { ["id"] = "x", ["full"] = "yes" }, new JsonObject { ["id"] = "x", ["bodyLimit"] = -1 } })
        {
            var bad = await client.RequestAsync(QueueControlCommands.Show, args, Ct);
            Assert.False(bad.Ok);
            Assert.Equal(ControlErrorCodes.BadRequest, bad.Code);
        }
    }

    [Fact]
    public async Task Flush_passes_id_and_domain_and_returns_how_many_were_scheduled()
    {
        await using var harness = await new ControlHarness().StartAsync();
        harness.Queue.Add(Deferred("4Xq2AAAA"), "x"u8.ToArray());
        harness.Queue.FlushResult = 3;
        await using var client = await harness.ConnectAsync();

        Assert.Equal(3, (await client.RequestAsync(QueueControlCommands.Flush, null, Ct)).GetResult(QueueControlJsonContext.Default.QueueFlushResult).Scheduled);
        await client.RequestAsync(QueueControlCommands.Flush, new JsonObject { ["id"] = "4Xq2AAAA" }, Ct);
        await client.RequestAsync(QueueControlCommands.Flush, new JsonObject { ["domain"] = "remote.test" }, Ct);
        Assert.Equal([(null, null), ("4Xq2AAAA", null), (null, "remote.test")], harness.Queue.Flushes.ToArray());

        var unknown = await client.RequestAsync(QueueControlCommands.Flush, new JsonObject { ["id"] = "NOPE" }, Ct);
        Assert.Equal(ControlErrorCodes.NotFound, unknown.Code);
        Assert.Equal(3, harness.Queue.Flushes.Count);
    }

    [Fact]
    public async Task Delete_reports_each_id()
    {
        await using var harness = await new ControlHarness().StartAsync();
        harness.Queue.Add(Deferred("4Xq2AAAA"), "x"u8.ToArray());
        await using var client = await harness.ConnectAsync();

        var result = (await client.RequestAsync(QueueControlCommands.Delete, new JsonObject { ["ids"] = new JsonArray("4Xq2AAAA", "NOPE") }, Ct))
            .GetResult(QueueControlJsonContext.Default.QueueDeleteResult);
        Assert.Equal([new QueueDeleteOutcome("4Xq2AAAA", true, 2), new QueueDeleteOutcome("NOPE", false, 0)], result.Results);
        Assert.Null(harness.Queue.Find("4Xq2AAAA"));

        foreach (var args in new JsonObject?[] { null, new JsonObject { ["ids"] = new JsonArray() }, new JsonObject { ["ids"] = "4Xq2AAAA" }, new JsonObject { ["ids"] = new JsonArray(1) } })
        {
            var bad = await client.RequestAsync(QueueControlCommands.Delete, args, Ct);
            Assert.Equal(ControlErrorCodes.BadRequest, bad.Code);
            Assert.Throws<ControlCommandException>(() => bad.GetResult(QueueControlJsonContext.Default.QueueDeleteResult));
        }
    }
}
