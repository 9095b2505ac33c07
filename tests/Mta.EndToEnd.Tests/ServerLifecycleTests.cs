// In-process start and graceful stop: a quick start/stop cycle is clean, and idle clients are told 421 4.3.2.
using Mta.EndToEnd.Tests.Infrastructure;

namespace Mta.EndToEnd.Tests;

public sealed class ServerLifecycleTests
{
    [Fact]
    public async Task Starting_and_stopping_at_once_is_clean()
    {
        // Stopping right after start must not throw (e.g. while the queue is still opening its spool).
        for (var i = 0; i < 50; i++)
        {
            var server = await MtaTestServer.StartAsync(waitForQueue: false);
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Stopping_tells_an_idle_client_421_4_3_2()
    {
        // Repeated: the stop may land at any point of the session's loop, and every point must end in 421.
        for (var i = 0; i < 10; i++) await StopOnceAsync();
    }

    private static async Task StopOnceAsync()
    {
        var server = await MtaTestServer.StartAsync();
        try
        {
            await using var c = await SmtpAssert.ConnectAsync(server);
            await SmtpAssert.EhloAsync(c);
            // Stop right after the EHLO reply, while the session goes back to reading its next command.
            var stopping = server.DisposeAsync().AsTask();
            RawReply reply;
            try
            {
                reply = await c.ReadReplyAsync();
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"no 421 within {RawSmtpClient.ReadTimeout.TotalSeconds} s and the connection is still open; server stop task: {stopping.Status}");
                throw;
            }
            SmtpAssert.Reply(reply, 421, "4.3.2");
            Assert.True(await c.IsClosedByServerAsync());
            await stopping.WaitAsync(TimeSpan.FromSeconds(15), TestContext.Current.CancellationToken);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
