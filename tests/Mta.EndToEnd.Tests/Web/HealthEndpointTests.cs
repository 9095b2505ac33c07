// /healthz and /readyz over real HTTP from the server's own Kestrel; /readyz flips when the spool cannot take a write.
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Mta.EndToEnd.Tests.Infrastructure;
using Mta.Web;
using Mta.Web.Hosting;

namespace Mta.EndToEnd.Tests.Web;

public sealed class HealthEndpointTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Web_off_by_default_opens_no_http_listener()
    {
        await using var server = await MtaTestServer.StartAsync(services: s => s.AddMtaWeb());
        Assert.False(server.Services.GetRequiredService<MtaWebServer>().IsListening);
    }

    [Fact]
    public async Task Healthz_and_readyz_answer_200_on_loopback_when_the_server_can_take_mail()
    {
        await using var server = await MtaTestServer.StartAsync(EnableWeb, services: s => s.AddMtaWeb());
        var web = server.Services.GetRequiredService<MtaWebServer>();
        var address = Assert.Single(web.Addresses);
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(address.Host)));
        using var http = new HttpClient { BaseAddress = address };
        var alive = await http.GetAsync("/healthz", Ct);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        var ready = await http.GetAsync("/readyz", Ct);
        var body = await ready.Content.ReadAsStringAsync(Ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"listeners\"", body);
        Assert.Contains("\"spool\"", body);
    }

    /// <summary>
    /// The tests run as root, for whom mode bits stop no write, so the spool is made unwritable for real: its folder is
    /// on a small tmpfs that the test fills. Skipped where mounting is not permitted.
    /// </summary>
    [Fact]
    public async Task Readyz_flips_to_503_while_the_spool_cannot_take_a_write_and_back_when_it_can()
    {
        var mount = Path.Combine(Path.GetTempPath(), "mta-e2e-ready-" + Guid.NewGuid().ToString("n")[..12]);
        Directory.CreateDirectory(mount);
        if (!Run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount))
        {
            Directory.Delete(mount);
            Assert.Skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)");
        }
        try
        {
            await using var server = await MtaTestServer.StartAsync(o =>
            {
                EnableWeb(o);
                o.Mailboxes.Root = Path.Combine(Path.GetTempPath(), "mta-e2e-ready-mail-" + Guid.NewGuid().ToString("n")[..12]);
            }, dataDirectory: Path.Combine(mount, "data"), services: s => s.AddMtaWeb());
            using var http = new HttpClient { BaseAddress = server.Services.GetRequiredService<MtaWebServer>().Addresses[0] };
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz", Ct)).StatusCode);

            var filler = Path.Combine(mount, "filler");
            await FillAsync(filler);
            var down = await WaitForStatusAsync(http, HttpStatusCode.ServiceUnavailable);
            Assert.Contains("not writable", down);
            // Alive all the same: a full disk is no reason to restart the process.
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz", Ct)).StatusCode);

            File.Delete(filler);
            await WaitForStatusAsync(http, HttpStatusCode.OK);
        }
        finally
        {
            Run("umount", "-l", mount);
            try { Directory.Delete(mount, recursive: true); } catch (IOException) { }
        }
    }

    private static void EnableWeb(Mta.Engine.Configuration.MtaOptions o)
    {
        o.Web.Enabled = true;
        o.Web.Urls = ["http://127.0.0.1:0"];
    }

    private static async Task FillAsync(string path)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        var block = new byte[64 * 1024];
        try
        {
            for (var i = 0; i < 1024; i++) await file.WriteAsync(block, Ct);
        }
        catch (IOException)
        {
            // ENOSPC: full, as wanted.
        }
    }

    // The check keeps its answer for a second: wait past that, bounded.
    private static async Task<string> WaitForStatusAsync(HttpClient http, HttpStatusCode wanted)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var response = await http.GetAsync("/readyz", Ct);
            var body = await response.Content.ReadAsStringAsync(Ct);
            if (response.StatusCode == wanted) return body;
            if (deadline.Elapsed > TimeSpan.FromSeconds(10)) Assert.Fail($"/readyz stayed {(int)response.StatusCode}: {body}");
            await Task.Delay(200, Ct);
        }
    }

    private static bool Run(string file, params string[] args)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            process.WaitForExit(10_000);
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }
}
