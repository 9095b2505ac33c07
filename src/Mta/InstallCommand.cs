// `mta install` / `mta uninstall`: make this executable the host's sendmail, mailq and newaliases the Debian way
// (dpkg-divert keeps the packaged files aside under another name), and undo it.
using System.CommandLine;
using System.Diagnostics;

namespace Mta;

/// <summary>The <c>install</c> and <c>uninstall</c> commands. Exit codes: 0 done, 1 failed, 2 bad usage.</summary>
public static class InstallCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>The paths that become links to <c>mta</c>; <c>/usr/lib/sendmail</c> only where it exists (it is a
    /// link to /usr/sbin/sendmail on older systems, gone on merged-/usr ones).</summary>
    public static readonly IReadOnlyList<(string Path, bool OnlyIfPresent)> Links =
    [
        ("/usr/sbin/sendmail", false),
        ("/usr/bin/mailq", false),
        ("/usr/bin/newaliases", false),
        ("/usr/lib/sendmail", true),
    ];

    /// <summary>The name a diverted file keeps while Mta is installed.</summary>
    public static string DivertedName(string path) => path + ".mta-orig";

    public static Command[] Create()
    {
        var root = new Option<DirectoryInfo?>("--root") { Description = "Install into this root instead of / (dpkg-divert --root, and the links under it)" };
        var target = new Option<FileInfo?>("--target") { Description = "The executable the links point to (default: this mta executable)" };
        var install = new Command("install", "Link /usr/sbin/sendmail, mailq and newaliases to mta, diverting the packaged ones (dpkg-divert)") { root, target };
        install.SetAction(parse => Install(parse.GetValue(root)?.FullName, parse.GetValue(target)?.FullName));
        var uninstall = new Command("uninstall", "Remove the links mta install made and restore the diverted files") { root };
        uninstall.SetAction(parse => Uninstall(parse.GetValue(root)?.FullName));
        return [install, uninstall];
    }

    private static int Install(string? root, string? target)
    {
        target ??= DefaultTarget();
        if (target is null || !File.Exists(target))
            return Fail(Usage, $"no mta executable to link to{(target is null ? "" : " at " + target)}; give it with --target");
        foreach (var (path, onlyIfPresent) in Links)
        {
            var full = Under(root, path);
            var existing = new FileInfo(full);
            if (existing.LinkTarget is { } linked && Path.GetFullPath(linked, Path.GetDirectoryName(full)!) == target)
            {
                Console.WriteLine($"{path}: already a link to {target}");
                continue;
            }
            if (onlyIfPresent && !existing.Exists && existing.LinkTarget is null)
            {
                Console.WriteLine($"{path}: not present, left alone");
                continue;
            }
            if (DpkgDivert(root, "--add", path) is { } error) return Fail(Failed, error);
            if (File.Exists(full) || new FileInfo(full).LinkTarget is not null)
                return Fail(Failed, $"{path} is still there after dpkg-divert --rename; not replacing it");
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.CreateSymbolicLink(full, target);
            Console.WriteLine($"{path}: diverted to {DivertedName(path)}, now a link to {target}");
        }
        return Ok;
    }

    private static int Uninstall(string? root)
    {
        foreach (var (path, _) in Links)
        {
            var full = Under(root, path);
            var link = new FileInfo(full);
            // Only a symbolic link is ours to remove; a real file there was put back by someone else.
            if (link.LinkTarget is not null)
            {
                File.Delete(full);
                Console.WriteLine($"{path}: link removed");
            }
            if (DpkgDivert(root, "--remove", path) is { } error) return Fail(Failed, error);
            Console.WriteLine(File.Exists(full) ? $"{path}: restored from {DivertedName(path)}" : $"{path}: no diversion left");
        }
        return Ok;
    }

    // The apphost beside mta.dll: when run as `dotnet mta.dll` the process is dotnet, which must not become sendmail.
    private static string? DefaultTarget()
    {
        var process = Environment.ProcessPath;
        if (process is not null && Path.GetFileName(process) == "mta") return process;
        var beside = Path.Combine(AppContext.BaseDirectory, "mta");
        return File.Exists(beside) ? beside : null;
    }

    private static string Under(string? root, string path) => root is null ? path : Path.Join(root, path);

    // dpkg-divert --local --rename --divert PATH.mta-orig --add|--remove PATH; null on success, else why not.
    private static string? DpkgDivert(string? root, string action, string path)
    {
        var psi = new ProcessStartInfo("dpkg-divert") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (root is not null)
        {
            psi.ArgumentList.Add("--root");
            psi.ArgumentList.Add(root);
        }
        foreach (var a in new[] { "--local", "--rename", "--divert", DivertedName(path), action, path }) psi.ArgumentList.Add(a);
        try
        {
            using var process = Process.Start(psi)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            var text = (output.Result + error).Trim();
            if (process.ExitCode != 0) return $"dpkg-divert {action} {path} failed (exit {process.ExitCode}): {text}";
            if (text.Length > 0) Console.WriteLine("  " + text.Replace("\n", "\n  "));
            return null;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return $"dpkg-divert not found ({ex.Message}): on a system without dpkg, link /usr/sbin/sendmail to mta with its alternatives tool";
        }
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine("mta: " + message);
        return code;
    }
}
