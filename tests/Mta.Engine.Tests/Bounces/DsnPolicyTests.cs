// DsnPolicy: the RFC 3461 NOTIFY truth table and status codes taken from replies and log lines.
using Mta.Abstractions;
using Mta.Engine.Bounces;

namespace Mta.Engine.Tests.Bounces;

public sealed class DsnPolicyTests
{
    private static readonly SmtpAddress Bob = new("bob", "example.org");

    [Theory]
    // No NOTIFY: the server default is failure and delay, never success.
    [InlineData(DsnNotify.Default, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Default, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Default, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Default, DsnAction.Relayed, false)]
    [InlineData(DsnNotify.Default, DsnAction.Expanded, false)]
    // NEVER: nothing at all.
    [InlineData(DsnNotify.Never, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Never, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Never, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Never, DsnAction.Relayed, false)]
    [InlineData(DsnNotify.Never, DsnAction.Expanded, false)]
    // A malformed NEVER combined with others still means never.
    [InlineData(DsnNotify.Never | DsnNotify.Failure, DsnAction.Failed, false)]
    // SUCCESS alone.
    [InlineData(DsnNotify.Success, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Success, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Success, DsnAction.Delivered, true)]
    [InlineData(DsnNotify.Success, DsnAction.Relayed, true)]
    [InlineData(DsnNotify.Success, DsnAction.Expanded, true)]
    // FAILURE alone.
    [InlineData(DsnNotify.Failure, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Failure, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Failure, DsnAction.Delivered, false)]
    [InlineData(DsnNotify.Failure, DsnAction.Relayed, false)]
    // DELAY alone.
    [InlineData(DsnNotify.Delay, DsnAction.Failed, false)]
    [InlineData(DsnNotify.Delay, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Delay, DsnAction.Delivered, false)]
    // Combinations.
    [InlineData(DsnNotify.Success | DsnNotify.Failure, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure, DsnAction.Delayed, false)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure, DsnAction.Delivered, true)]
    [InlineData(DsnNotify.Failure | DsnNotify.Delay, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Failure | DsnNotify.Delay, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Failure | DsnNotify.Delay, DsnAction.Relayed, false)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, DsnAction.Failed, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, DsnAction.Delayed, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Failure | DsnNotify.Delay, DsnAction.Delivered, true)]
    [InlineData(DsnNotify.Success | DsnNotify.Delay, DsnAction.Failed, false)]
    public void IsRequested_follows_notify(DsnNotify notify, DsnAction action, bool expected)
    {
        Assert.Equal(expected, DsnPolicy.IsRequested(new EnvelopeRecipient(Bob, notify), action));
    }

    [Theory]
    [InlineData("550 5.1.1 <bob@example.org>: no such user", true, "5.1.1")]
    [InlineData("550-5.7.1 policy rejection", true, "5.7.1")]
    [InlineData("452 4.2.2 mailbox full", false, "4.2.2")]
    [InlineData("250 2.0.0 Ok: queued as ABC", true, "2.0.0")]
    [InlineData("5.3.4 message too big for system", true, "5.3.4")]
    [InlineData("4.4.1 connection timed out", false, "4.4.1")]
    [InlineData("  554 5.7.1   spam", true, "5.7.1")]
    [InlineData("550 5.1.10 recipient address rejected", true, "5.1.10")]
    [InlineData("550 no such user", true, "5.0.0")]
    [InlineData("550 no such user", false, "5.0.0")] // the reply wins over the caller's guess
    [InlineData("421 service not available", true, "4.0.0")]
    [InlineData("450 4.7.1 greylisted", true, "4.7.1")] // an expired 4xx reports its own code
    [InlineData("550 4.1.1 mismatched classes", true, "5.0.0")] // RFC 2034: the enhanced class must match the reply's
    [InlineData("550 5.1.1.2 not a status", true, "5.0.0")]
    [InlineData("host mx.example.org[192.0.2.1] said: 550 5.1.1 no such user (in reply to RCPT TO command)", true, "5.1.1")]
    [InlineData("host mx.example.org[192.0.2.1] said: 552 message too large (in reply to end of DATA command)", true, "5.0.0")]
    [InlineData("host mx.example.org[192.0.2.1] said: 451 try later", true, "4.0.0")]
    [InlineData("connect to mx.example.org[203.0.113.5]:25: Connection refused", false, "4.0.0")]
    [InlineData("connect to mx.example.org[203.0.113.5]:25: Connection refused", true, "5.0.0")]
    [InlineData("timed out after 250 seconds", false, "4.0.0")]
    [InlineData("", true, "5.0.0")]
    [InlineData("   ", false, "4.0.0")]
    [InlineData(null, true, "5.0.0")]
    [InlineData(null, false, "4.0.0")]
    [InlineData("999 9.9.9 nonsense", false, "4.0.0")]
    [InlineData("٥٥٠ 5.1.1 Arabic-Indic digits are not a reply code", false, "4.0.0")]
    public void StatusFrom_extracts_or_derives(string? text, bool permanent, string expected)
    {
        Assert.Equal(expected, DsnPolicy.StatusFrom(text, permanent));
    }
}
