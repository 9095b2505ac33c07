// The Telemetry section: defaults valid and documented, bound from configuration, bad values named by their key.
using Microsoft.Extensions.Configuration;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Configuration;

public sealed class TelemetryConfigurationTests
{
    [Fact]
    public void The_defaults_collect_both_signals_and_export_nothing()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        var telemetry = options.Telemetry;
        Assert.True(telemetry.Metrics);
        Assert.True(telemetry.Traces);
        Assert.False(telemetry.Prometheus.Enabled);
        Assert.Equal("/metrics", telemetry.Prometheus.Path);
        Assert.False(telemetry.Otlp.Enabled);
        Assert.Equal("http://localhost:4318", telemetry.Otlp.Endpoint);
        Assert.Equal(OtlpProtocol.HttpProtobuf, telemetry.Otlp.Protocol);
        Assert.Equal(TimeSpan.FromSeconds(60), telemetry.Otlp.MetricsInterval);
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Fact]
    public void The_keys_bind_from_configuration()
    {
        var options = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Telemetry:Metrics"] = "true",
            ["Telemetry:Traces"] = "false",
            ["Telemetry:Prometheus:Enabled"] = "true",
            ["Telemetry:Prometheus:Path"] = "/prom",
            ["Telemetry:Otlp:Enabled"] = "true",
            ["Telemetry:Otlp:Endpoint"] = "http://collector.example:4317",
            ["Telemetry:Otlp:Protocol"] = "Grpc",
            ["Telemetry:Otlp:MetricsInterval"] = "00:00:15",
        }).Build().Get<MtaOptions>()!;
        var telemetry = options.Telemetry;
        Assert.False(telemetry.Traces);
        Assert.True(telemetry.Prometheus.Enabled);
        Assert.Equal("/prom", telemetry.Prometheus.Path);
        Assert.True(telemetry.Otlp.Enabled);
        Assert.Equal("http://collector.example:4317", telemetry.Otlp.Endpoint);
        Assert.Equal(OtlpProtocol.Grpc, telemetry.Otlp.Protocol);
        Assert.Equal(TimeSpan.FromSeconds(15), telemetry.Otlp.MetricsInterval);
        options.Listeners = [new ListenerOptions()];
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }

    [Theory]
    [InlineData("metrics")]
    [InlineData("/")]
    [InlineData("/metrics?x=1")]
    [InlineData("/readyz")]
    [InlineData("/a b")]
    public void A_path_that_is_not_an_absolute_path_is_refused(string path)
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Telemetry.Prometheus.Path = path;
        Assert.Contains(MtaOptionsValidator.Validate(options), e => e.StartsWith("Telemetry:Prometheus:Path:", StringComparison.Ordinal));
    }

    [Fact]
    public void Bad_values_are_reported_with_their_key()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Telemetry.Metrics = false;
        options.Telemetry.Prometheus.Enabled = true;
        options.Web.Urls = [];
        options.Telemetry.Otlp.Enabled = true;
        options.Telemetry.Otlp.Endpoint = "collector:4318";
        options.Telemetry.Otlp.Protocol = (OtlpProtocol)7;
        options.Telemetry.Otlp.MetricsInterval = TimeSpan.FromMilliseconds(10);
        var errors = MtaOptionsValidator.Validate(options);
        foreach (var key in new[] { "Telemetry:Prometheus:Enabled", "Web:Urls", "Telemetry:Otlp:Endpoint", "Telemetry:Otlp:Protocol", "Telemetry:Otlp:MetricsInterval" })
            Assert.Contains(errors, e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }

    [Fact]
    public void An_endpoint_is_checked_only_when_otlp_is_on()
    {
        var options = new MtaOptions { Listeners = [new ListenerOptions()] };
        options.Telemetry.Otlp.Endpoint = "not a url";
        Assert.Empty(MtaOptionsValidator.Validate(options));
    }
}
