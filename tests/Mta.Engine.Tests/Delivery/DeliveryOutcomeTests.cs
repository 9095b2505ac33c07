// The structured outcome of Mta.Abstractions: RFC 3463 codes whose class agrees with the status, and per-request helpers.
using Mta.Abstractions;

namespace Mta.Engine.Tests.Delivery;

public sealed class DeliveryOutcomeTests
{
    [Theory]
    [InlineData("2.0.0", true)]
    [InlineData("4.4.7", true)]
    [InlineData("5.1.10", true)]
    [InlineData("5.999.999", true)]
    [InlineData("3.0.0", false)]
    [InlineData("5.1", false)]
    [InlineData("5.1.1.2", false)]
    [InlineData("5.1.1000", false)]
    [InlineData("5..1", false)]
    [InlineData("5.a.1", false)]
    [InlineData("٥.1.1", false)] // Arabic-Indic digits are not RFC 3463 digits
    [InlineData("", false)]
    [InlineData(null, false)]
    public void IsEnhancedStatus_accepts_class_2_4_5_codes_only(string? code, bool expected) =>
        Assert.Equal(expected, DeliveryOutcome.IsEnhancedStatus(code));

    [Fact]
    public void The_shorthands_give_the_generic_code_of_their_class()
    {
        Assert.Equal((DeliveryStatus.Delivered, "2.0.0"), (DeliveryOutcome.Delivered("x").Status, DeliveryOutcome.Delivered("x").EnhancedStatus));
        Assert.Equal((DeliveryStatus.Deferred, "4.0.0"), (DeliveryOutcome.Deferred("x").Status, DeliveryOutcome.Deferred("x").EnhancedStatus));
        Assert.Equal((DeliveryStatus.Failed, "5.0.0"), (DeliveryOutcome.Failed("x").Status, DeliveryOutcome.Failed("x").EnhancedStatus));
        Assert.Equal(SuccessNotice.Delivered, DeliveryOutcome.Delivered("x").Notice);
    }

    [Fact]
    public void A_code_must_be_of_the_class_of_its_outcome()
    {
        Assert.Equal("5.1.1", DeliveryOutcome.Failed("5.1.1", "no such user").EnhancedStatus);
        Assert.Equal("4.2.2", DeliveryOutcome.Deferred("4.2.2", "mailbox full").EnhancedStatus);
        Assert.Throws<ArgumentException>(() => DeliveryOutcome.Failed("4.2.2", "class 4 is not a failure"));
        Assert.Throws<ArgumentException>(() => DeliveryOutcome.Deferred("5.1.1", "class 5 is not a deferral"));
        Assert.Throws<ArgumentException>(() => DeliveryOutcome.Failed("5.1", "not a code"));
        Assert.Throws<ArgumentException>(() => DeliveryOutcome.Failed("5.1.1 no such user", "a glued text"));
    }

    [Fact]
    public void ForAll_gives_every_recipient_of_the_request_the_outcome()
    {
        var message = new TestMessage("a@example.org", "b@example.org", "c@example.org");
        var outcome = DeliveryOutcome.Deferred("4.4.1", "down");

        var result = message.To(RouteKind.Remote, "example.org").ForAll(outcome);

        Assert.Equal([outcome, outcome, outcome], result.Recipients);
    }
}
