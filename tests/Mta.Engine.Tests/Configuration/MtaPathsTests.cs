// The one rule for relative paths: the config file's folder; the server's own files inside the data directory.
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class MtaPathsTests
{
    private static readonly string ConfigFolder = Path.Combine(Path.GetTempPath(), "mta-paths", "etc");

    private static MtaOptions FromFile(string dataDirectory = "data") =>
        new MtaOptions { DataDirectory = dataDirectory }.ReadFrom(Path.Combine(ConfigFolder, "mta.config.json"));

    [Fact]
    public void Relative_paths_are_relative_to_the_config_files_folder()
    {
        var paths = new MtaPaths(FromFile());
        Assert.Equal(ConfigFolder, paths.ConfigDirectory);
        Assert.Equal(Path.Combine(ConfigFolder, "data"), paths.DataDirectory);
        Assert.Equal(Path.Combine(ConfigFolder, "tls", "cert.pem"), paths.Resolve("tls/cert.pem"));
        Assert.Equal(Path.Combine(Path.GetTempPath(), "mta-paths", "aliases"), paths.Resolve("../aliases"));
    }

    [Fact]
    public void Absolute_paths_stay_as_they_are()
    {
        var paths = new MtaPaths(FromFile("/var/lib/mta"));
        Assert.Equal("/var/lib/mta", paths.DataDirectory);
        Assert.Equal("/etc/ssl/mx.pem", paths.Resolve("/etc/ssl/mx.pem"));
        Assert.Equal("/srv/users.db", paths.ResolveInData("/srv/users.db"));
    }

    [Fact]
    public void The_servers_own_files_are_relative_to_the_data_directory()
    {
        var options = FromFile("/var/lib/mta");
        var paths = new MtaPaths(options);
        Assert.Equal("/var/lib/mta/queue", paths.QueueDirectory);
        Assert.Equal("/var/lib/mta/maildir", paths.MaildirRoot);
        Assert.Equal("/var/lib/mta/users.db", paths.ResolveInData(options.Auth.UsersFile));
        Assert.Equal("/var/lib/mta/users.db", Mta.Engine.Auth.UserStore.ResolvePath(options));
        Assert.Equal("/var/lib/mta/control.sock", paths.ControlSocketPath);
    }

    [Fact]
    public void The_validator_names_an_empty_data_directory_instead_of_failing_on_it()
    {
        var options = FromFile("");
        options.Tls.CertificateFile = "missing.pem";
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Contains(errors, e => e.StartsWith("DataDirectory:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Tls:CertificateFile:", StringComparison.Ordinal));
    }

    [Fact]
    public void Options_built_in_code_resolve_against_the_working_directory()
    {
        var paths = new MtaPaths(new MtaOptions());
        Assert.Equal(Path.GetFullPath("data"), paths.DataDirectory);
        Assert.Equal(Path.GetFullPath("scripts"), MtaPaths.ResolveFor(new MtaOptions(), "scripts"));
    }
}
