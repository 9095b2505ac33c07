// Running under systemd: readiness and stop notifications (Type=notify) and whether stdout goes to the journal.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace Mta.Logging;

internal static class SystemdService
{
    /// <summary>
    /// Registers Microsoft.Extensions.Hosting.Systemd's lifetime when systemd gave a notification socket. Its
    /// READY=1 goes out on ApplicationStarted, which the host raises only after every hosted service's StartAsync
    /// has returned, and the SMTP server binds its listeners inside StartAsync: systemd (and any unit ordered
    /// After=mta.service) sees the service ready only once the ports accept connections. STOPPING=1 goes out on
    /// ApplicationStopping.
    /// </summary>
    /// <remarks>
    /// The package's own <c>AddSystemd()</c> switches on only when the parent process is systemd itself, so a
    /// unit whose ExecStart goes through a wrapper (sudo, a shell script, `dotnet mta.dll`) would never report
    /// ready and be killed at TimeoutStartSec. NOTIFY_SOCKET is what sd_notify(3) itself looks at; it also picks
    /// the console formatter on its own, which <c>Logging:Format</c> decides here instead.
    /// </remarks>
    public static void AddNotifications(IServiceCollection services)
    {
        if (!IsNotifyRequested()) return;
        services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
        services.AddSingleton<IHostLifetime, SystemdLifetime>();
    }

    public static bool IsNotifyRequested() =>
        OperatingSystem.IsLinux() && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    /// <summary>
    /// True when standard output or standard error is the journal stream systemd connected (JOURNAL_STREAM names its
    /// device and inode, systemd.exec(5)). Comparing the inode, not only looking for the variable, keeps a
    /// program started by a service with its output redirected elsewhere (a test run, a pipe to a file) on text.
    /// </summary>
    public static bool IsJournalStream()
    {
        if (!OperatingSystem.IsLinux()) return false;
        var stream = Environment.GetEnvironmentVariable("JOURNAL_STREAM");
        var colon = stream?.IndexOf(':') ?? -1;
        if (stream is null || colon < 0) return false;
        var inode = stream[(colon + 1)..];
        return FileInode(1) == inode || FileInode(2) == inode;
    }

    // /proc/self/fd/N links to "socket:[INODE]" (the journal's stream) or "pipe:[INODE]"; files show their path.
    private static string? FileInode(int fd)
    {
        try
        {
            var target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            if (target is null) return null;
            var open = target.IndexOf('[');
            return open >= 0 && target.EndsWith(']') ? target[(open + 1)..^1] : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
