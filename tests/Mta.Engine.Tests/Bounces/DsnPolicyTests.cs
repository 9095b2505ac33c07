// DsnPolicy: the RFC 3461 NOTIFY truth table.
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
}
