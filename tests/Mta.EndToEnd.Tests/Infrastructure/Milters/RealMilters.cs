// The real filters the milter tests share: one signing OpenDKIM and one rspamd (which takes seconds to load its rules).
using Mta.Testing;

namespace Mta.EndToEnd.Tests.Infrastructure.Milters;

/// <summary>
/// Started once for the <see cref="RealMiltersCollection"/>, side by side: a signing <see cref="OpenDkimInstance"/>, and
/// an <see cref="RspamdInstance"/> whose DNS is <see cref="Dns"/>, a stub that holds OpenDKIM's public key (so rspamd,
/// placed after OpenDKIM, checks the signature it sees) and answers NXDOMAIN to everything else. A filter that is not
/// installed is left null with the reason; its tests skip. A filter that is installed but fails to start fails its
/// tests with the filter's own output.
/// </summary>
public sealed class RealMilters : IAsyncLifetime
{
    private Exception? _openDkimFailure;
    private Exception? _rspamdFailure;

    public StubDnsServer Dns { get; } = StubDnsServer.Start();
    public OpenDkimInstance? OpenDkim { get; private set; }
    public RspamdInstance? Rspamd { get; private set; }

    public async ValueTask InitializeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await Task.WhenAll(StartOpenDkimAsync(cts.Token), StartRspamdAsync(cts.Token));
    }

    private async Task StartOpenDkimAsync(CancellationToken ct)
    {
        if (OpenDkimInstance.UnavailableReason is not null) return;
        try
        {
            OpenDkim = await OpenDkimInstance.StartAsync(OpenDkimMode.SignAndVerify, ct);
            Dns.AddTxt(OpenDkimInstance.KeyName, OpenDkim.PublicKeyRecord);
        }
        catch (Exception e) { _openDkimFailure = e; }
    }

    private async Task StartRspamdAsync(CancellationToken ct)
    {
        if (RspamdInstance.UnavailableReason is not null) return;
        try { Rspamd = await RspamdInstance.StartAsync(Dns.EndPoint, ct); }
        catch (Exception e) { _rspamdFailure = e; }
    }

    /// <summary>The signing OpenDKIM; skips the test when opendkim is not installed.</summary>
    public OpenDkimInstance RequireOpenDkim()
    {
        OpenDkimInstance.SkipIfUnavailable();
        if (_openDkimFailure is not null) throw new InvalidOperationException("OpenDKIM did not start", _openDkimFailure);
        return OpenDkim!;
    }

    /// <summary>The rspamd; skips the test when rspamd is not installed.</summary>
    public RspamdInstance RequireRspamd()
    {
        RspamdInstance.SkipIfUnavailable();
        if (_rspamdFailure is not null) throw new InvalidOperationException("rspamd did not start", _rspamdFailure);
        return Rspamd!;
    }

    public async ValueTask DisposeAsync()
    {
        if (OpenDkim is not null) await OpenDkim.DisposeAsync();
        if (Rspamd is not null) await Rspamd.DisposeAsync();
        await Dns.DisposeAsync();
    }
}

/// <summary>The tests that share <see cref="RealMilters"/>; they run one after another.</summary>
[CollectionDefinition(nameof(RealMiltersCollection))]
public sealed class RealMiltersCollection : ICollectionFixture<RealMilters>;
