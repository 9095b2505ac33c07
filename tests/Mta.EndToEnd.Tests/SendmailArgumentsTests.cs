// sendmail(1)'s command line (Postfix's flags): grouped flags, values in the same word or the next, the -b modes,
// -q forms, DSN flags, accepted-and-ignored flags, and usage errors.
using Mta.Sendmail;

namespace Mta.EndToEnd.Tests;

public sealed class SendmailArgumentsTests
{
    private static SendmailArguments Parse(params string[] args)
    {
        var parsed = SendmailArguments.Parse(args, "sendmail", out var error);
        Assert.True(parsed is not null, error);
        return parsed!;
    }

    private static string Usage(params string[] args)
    {
        Assert.Null(SendmailArguments.Parse(args, "sendmail", out var error));
        return error!;
    }

    [Fact]
    public void Grouped_flags_and_recipients()
    {
        var a = Parse("-ti", "-f", "alice@example.org", "-Fjoe", "bob@example.org", "carol");
        Assert.True(a.ExtractRecipients);
        Assert.True(a.IgnoreDots);
        Assert.Equal("alice@example.org", a.Sender);
        Assert.Equal("joe", a.FullName);
        Assert.Equal(["bob@example.org", "carol"], a.Recipients);
        Assert.Equal(SendmailMode.Deliver, a.Mode);
    }

    [Theory]
    [InlineData("-oi")]
    [InlineData("-o", "i")]
    [InlineData("-i")]
    public void Dots_are_ignored_with_i_or_oi(params string[] args) => Assert.True(Parse([.. args, "x@y.test"]).IgnoreDots);

    [Fact]
    public void Without_i_a_dot_ends_the_message() => Assert.False(Parse("x@y.test").IgnoreDots);

    [Theory]
    [InlineData("-f<alice@example.org>", "alice@example.org")]
    [InlineData("-f<>", "")]
    [InlineData("-ralice", "alice")]
    public void Sender_forms(string flag, string sender) => Assert.Equal(sender, Parse(flag, "x@y.test").Sender);

    [Theory]
    [InlineData(SendmailMode.Smtp, "-bs")]
    [InlineData(SendmailMode.ListQueue, "-bp")]
    [InlineData(SendmailMode.Deliver, "-bm")]
    [InlineData(SendmailMode.Flush, "-q")]
    [InlineData(SendmailMode.Nothing, "-q30m")]
    [InlineData(SendmailMode.Flush, "-qRexample.org")]
    [InlineData(SendmailMode.InitializeAliases, "-bi")]
    public void Modes(SendmailMode mode, string flag) => Assert.Equal(mode, Parse(flag).Mode);

    [Fact]
    public void Mailq_by_name_lists_the_queue() =>
        Assert.Equal(SendmailMode.ListQueue, SendmailArguments.Parse([], "mailq", out _)!.Mode);

    [Fact]
    public void Newaliases_by_name_reads_the_aliases() =>
        Assert.Equal(SendmailMode.InitializeAliases, SendmailArguments.Parse([], "newaliases", out _)!.Mode);

    [Fact]
    public void Flush_of_one_site() => Assert.Equal("example.org", Parse("-qR", "example.org").FlushDomain);

    [Fact]
    public void Dsn_flags_are_kept()
    {
        var a = Parse("-N", "success,failure", "-R", "hdrs", "-V", "env-1", "x@y.test");
        Assert.Equal("SUCCESS,FAILURE", a.Notify);
        Assert.Equal("HDRS", a.Ret);
        Assert.Equal("env-1", a.EnvelopeId);
    }

    [Fact]
    public void Config_path_from_C() => Assert.Equal("/etc/mta/other.json", Parse("-C", "/etc/mta/other.json", "x@y.test").ConfigPath);

    [Theory]
    [InlineData("-oem")]
    [InlineData("-odb")]
    [InlineData("-oA/etc/aliases")]
    [InlineData("-B", "8BITMIME")]
    [InlineData("-v")]
    [InlineData("-m")]
    [InlineData("-U")]
    [InlineData("-L", "cron")]
    [InlineData("-O", "DeliveryMode=b")]
    [InlineData("-X", "/tmp/log")]
    [InlineData("-em")]
    [InlineData("-n")]
    [InlineData("-h", "10")]
    public void Flags_accepted_and_ignored(params string[] args)
    {
        var a = Parse([.. args, "x@y.test"]);
        Assert.Equal(["x@y.test"], a.Recipients);
        Assert.Equal(SendmailMode.Deliver, a.Mode);
    }

    [Fact]
    public void Debian_crons_line()
    {
        var a = Parse("-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root");
        Assert.Equal("CronDaemon", a.FullName);
        Assert.True(a.IgnoreDots);
        Assert.Equal(["root"], a.Recipients);
    }

    [Fact]
    public void Bsd_mailx_line()
    {
        var a = Parse("-i", "-t");
        Assert.True(a.IgnoreDots && a.ExtractRecipients);
        Assert.Empty(a.Recipients);
    }

    [Fact]
    public void Options_end_at_double_dash() => Assert.Equal(["-t"], Parse("--", "-t").Recipients);

    [Theory]
    [InlineData("unknown option", "-k")]
    [InlineData("unsupported mode", "-bx")]
    [InlineData("needs a value", "-f")]
    [InlineData("must be full or hdrs", "-R", "most")]
    [InlineData("must be never", "-N", "never,success")]
    [InlineData("not supported", "-qX")]
    public void Usage_errors(string expected, params string[] args) => Assert.Contains(expected, Usage(args));
}
