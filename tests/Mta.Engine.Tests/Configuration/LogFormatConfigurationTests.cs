// Logging:Format: the three names in any case, unset meaning "the host decides", anything else an error naming the key.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class LogFormatConfigurationTests
{
    [Theory]
    [InlineData("text", LogFormat.Text)]
    [InlineData("JSON", LogFormat.Json)]
    [InlineData(" Systemd ", LogFormat.Systemd)]
    public void The_three_names_parse_in_any_case(string value, LogFormat expected)
    {
        Assert.True(LogFormats.TryParse(value, out var format));
        Assert.Equal(expected, format);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void Unset_is_valid_and_leaves_the_choice_to_the_host(string? value)
    {
        Assert.True(LogFormats.TryParse(value, out var format));
        Assert.Null(format);
    }

    [Theory]
    [InlineData("xml")]
    [InlineData("1")]
    [InlineData("text, json")]
    public void Other_values_are_refused_with_the_key_path(string value)
    {
        Assert.False(LogFormats.TryParse(value, out _));
        var logging = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Logging:Format"] = value }).Build().GetSection("Logging");
        var options = new MtaOptions { Listeners = [new ListenerOptions()], Logging = logging };
        Assert.Contains($"Logging:Format: '{value}' is not a log format (text, json, systemd)", MtaOptionsValidator.Validate(options));
    }
}
