// Runs the configured checks on one received message (SPF, DKIM, ARC, then DMARC on their results) within one time budget.
using System.Net;
using Microsoft.Extensions.Logging;
using MimeKit;
using Mta.Abstractions;
using Mta.Engine.Authentication.Arc;
using Mta.Engine.Authentication.Dkim;
using Mta.Engine.Authentication.Dmarc;
using Mta.Engine.Authentication.Spf;
using Mta.Engine.Configuration;

namespace Mta.Engine.Authentication;

/// <summary>
/// The receiver's verifier and <c>mta auth verify</c>'s: SPF of HELO and MAIL FROM, DKIM and ARC run side by side,
/// DMARC after them on their results. A check still running when <c>Authentication:Verify:Timeout</c> runs out is
/// recorded as <c>temperror</c>, so a slow DNS server delays a message by a bounded time and never refuses it.
/// </summary>
public sealed partial class InboundAuthenticator
{
    private readonly VerifyOptions _verify;
    private readonly SpfEvaluator _spf;
    private readonly DkimVerification _dkim;
    private readonly ArcVerification _arc;
    private readonly DmarcEvaluator _dmarc;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Built once; every part is thread-safe.</summary>
    public InboundAuthenticator(MtaOptions options, SpfEvaluator spf, DkimVerification dkim, ArcVerification arc, DmarcEvaluator dmarc,
        TimeProvider time, ILogger<InboundAuthenticator> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _verify = options.Authentication.Verify;
        AuthServId = AuthServIdOf(options);
        _spf = spf;
        _dkim = dkim;
        _arc = arc;
        _dmarc = dmarc;
        _time = time;
        _logger = logger;
    }

    /// <summary>The authserv-id results are recorded under.</summary>
    public string AuthServId { get; }

    /// <summary>Whether verification is on at all.</summary>
    public bool Enabled => _verify.Enabled;

    /// <summary>Whether DKIM signatures are verified (so a message without one says <c>dkim=none</c>).</summary>
    public bool ChecksDkim => _verify.Dkim;

    /// <summary><c>Authentication:AuthServId</c>, else the host name.</summary>
    public static string AuthServIdOf(MtaOptions options) =>
        string.IsNullOrWhiteSpace(options.Authentication.AuthServId) ? options.HostName : options.Authentication.AuthServId.Trim();

    /// <summary>Runs every enabled check.</summary>
    /// <param name="client">The SMTP client's address (after XCLIENT or PROXY, the one they gave).</param>
    /// <param name="helo">The HELO/EHLO name, or null.</param>
    /// <param name="reversePath">The MAIL FROM address.</param>
    /// <param name="message">The message as received.</param>
    /// <param name="cancellationToken">The session's token: the client went away or the server stops.</param>
    public async Task<MessageAuthentication> VerifyAsync(IPAddress client, string? helo, SmtpAddress reversePath, IMessageContent message,
        CancellationToken cancellationToken)
    {
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_verify.Timeout);
        var ct = budget.Token;
        MimeMessage mime;
        try
        {
            mime = await message.GetMimeMessageAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (FormatException)
        {
            // No header section MimeKit can read (an empty message, say): nothing is signed and there is no author,
            // so DKIM and ARC find nothing and DMARC says permerror, as for any message without a From: field.
            mime = new MimeMessage();
        }

        var heloTask = _verify.Spf && !string.IsNullOrEmpty(helo)
            ? Bounded(_spf.CheckHeloAsync(client, helo, ct), () => new SpfCheck(SpfResult.TempError, helo, helo, TimedOut), "spf helo")
            : Task.FromResult<SpfCheck?>(null);
        var mailFromTask = _verify.Spf
            ? Bounded(_spf.CheckMailFromAsync(client, reversePath, helo, ct),
                () => new SpfCheck(SpfResult.TempError, reversePath.ToString(), reversePath.Domain, TimedOut), "spf mailfrom")
            : Task.FromResult<SpfCheck?>(null);
        var dkimTask = _verify.Dkim || _verify.Dmarc
            ? Bounded(_dkim.VerifyAsync(mime, ct), () => [], "dkim")
            : Task.FromResult<IReadOnlyList<DkimCheck>?>([]);
        var arcTask = _verify.Arc
            ? Bounded(_arc.VerifyAsync(mime, ct), () => new ArcCheck(ArcResult.Fail, 0, TimedOut), "arc")
            : Task.FromResult<ArcCheck?>(null);

        var heloResult = await heloTask.ConfigureAwait(false);
        var mailFrom = await mailFromTask.ConfigureAwait(false);
        var dkim = await dkimTask.ConfigureAwait(false) ?? [];
        var arc = await arcTask.ConfigureAwait(false);

        DmarcCheck? dmarc = null;
        if (_verify.Dmarc)
        {
            var fromDomains = FromDomains(mime.Headers);
            dmarc = await Bounded(_dmarc.EvaluateAsync(fromDomains, dkim, mailFrom, ct),
                () => new DmarcCheck(DmarcResult.TempError, fromDomains.FirstOrDefault() ?? "", null, DmarcPolicy.None, DmarcPolicy.None, false, false, TimedOut),
                "dmarc").ConfigureAwait(false);
        }
        return new MessageAuthentication(AuthServId, heloResult, mailFrom, _verify.Dkim ? dkim : [], dmarc, arc);

        // Only the budget's own expiry becomes temperror; the session's cancellation goes on up.
        async Task<T?> Bounded<T>(Task<T> check, Func<T> timedOut, string name) where T : class
        {
            try
            {
                return await check.ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                LogTimedOut(name, _verify.Timeout);
                return timedOut();
            }
        }
    }

    private const string TimedOut = "checks did not finish in time";

    /// <summary>The domains of every mailbox in every <c>From:</c> field (RFC 7489 6.6.1 needs to know when there are
    /// several). A field that does not parse contributes nothing.</summary>
    internal static IReadOnlyList<string> FromDomains(HeaderList headers)
    {
        var domains = new List<string>();
        foreach (var header in headers)
        {
            if (header.Id != HeaderId.From) continue;
            if (!InternetAddressList.TryParse(header.RawValue, out var list)) continue;
            foreach (var mailbox in list.Mailboxes)
            {
                // A name that is not a domain (an address literal, say) still counts as an author domain, as given.
                if (Domain.TryParse(mailbox.Domain, out var domain)) domains.Add(domain.Name);
                else if (!string.IsNullOrEmpty(mailbox.Domain)) domains.Add(mailbox.Domain.ToLowerInvariant());
            }
        }
        return domains;
    }

    [LoggerMessage(EventId = LogEvents.Authentication.CheckTimedOut, Level = LogLevel.Warning, Message = "Authentication check {Check} did not finish within {Budget}; recorded as temperror")]
    private partial void LogTimedOut(string check, TimeSpan budget);
}
