// Milter addresses in Postfix's forms, and the configuration errors that name their key.
using System.Net.Sockets;
using Mta.Engine.Configuration;
using Mta.Engine.Milter;

namespace Mta.Engine.Tests.Milter;

public sealed class MilterAddressTests
{
    [Theory]
    [InlineData("unix:/run/opendkim/opendkim.sock", "/run/opendkim/opendkim.sock", null, 0, AddressFamily.Unix)]
    [InlineData("local:/var/run/milter.sock", "/var/run/milter.sock", null, 0, AddressFamily.Unix)]
    [InlineData("inet:127.0.0.1:11332", null, "127.0.0.1", 11332, AddressFamily.InterNetwork)]
    [InlineData("inet:milter.example.test:8891", null, "milter.example.test", 8891, AddressFamily.InterNetwork)]
    [InlineData("inet6:[::1]:8891", null, "::1", 8891, AddressFamily.InterNetworkV6)]
    [InlineData("inet:[2001:db8::5]:25", null, "2001:db8::5", 25, AddressFamily.InterNetworkV6)]
    public void Postfix_forms_parse(string text, string? path, string? host, int port, AddressFamily family)
    {
        Assert.True(MilterAddress.TryParse(text, out var address, out var error), error);
        Assert.Equal(new MilterAddress(path, host, port, family), address);
    }

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("unix:relative.sock", "must be absolute")]
    [InlineData("inet:127.0.0.1", "no valid port")]
    [InlineData("inet:127.0.0.1:70000", "no valid port")]
    [InlineData("inet::25", "no valid port")]
    [InlineData("inet:[::1:25", "no valid host")]
    [InlineData("tcp:127.0.0.1:25", "is not unix:")]
    [InlineData("/run/milter.sock", "is not unix:")]
    public void Other_forms_are_refused_with_the_reason(string text, string why)
    {
        Assert.False(MilterAddress.TryParse(text, out _, out var error));
        Assert.Contains(why, error);
    }

    [Fact]
    public void The_validator_names_each_bad_milter_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions { Milters = ["dkim", "nope"] }] };
        options.Milters.Definitions["dkim"] = new MilterDefinition
        {
            Address = "inet:127.0.0.1:8891", ConnectTimeout = TimeSpan.Zero, EndOfMessageTimeout = TimeSpan.FromHours(2), Protocol = 1,
            DefaultAction = (MilterDefaultAction)7,
        };
        var errors = MtaOptionsValidator.Validate(options);
        Assert.Contains("Listeners:0:Milters:1: 'nope' is not defined under Milters:Definitions", errors);
        Assert.Contains("Milters:Definitions:dkim:ConnectTimeout: must be more than zero and at most 1 hour", errors);
        Assert.Contains("Milters:Definitions:dkim:EndOfMessageTimeout: must be more than zero and at most 1 hour", errors);
        Assert.Contains("Milters:Definitions:dkim:Protocol: 1 is not a milter protocol version (2, 3, 4 or 6)", errors);
        Assert.Contains("Milters:Definitions:dkim:DefaultAction: '7' is not Accept, Tempfail or Reject", errors);
        Assert.DoesNotContain(errors, e => e.Contains("Milters:Definitions:dkim:Address", StringComparison.Ordinal));
    }
}
