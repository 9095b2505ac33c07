// A queued message in memory for the delivery agents' tests: the public view, or the spool's view with a stored envelope.
using Mta.Abstractions;
using Mta.Engine.Spool;
using Mta.Engine.Tests.Bounces;

namespace Mta.Engine.Tests.Delivery;

internal class TestMessage(TransactionKind kind, SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, string text = TestMessage.Text)
    : IQueuedMessage
{
    public const string Text = "From: <s@remote.test>\r\nTo: <alice@example.org>\r\nSubject: agents\r\n\r\nbody\r\n";

    public TestMessage(params string[] recipients) : this(TransactionKind.Mail, recipients) { }

    public TestMessage(TransactionKind kind, params string[] recipients)
        : this(kind, new SmtpAddress("s", "remote.test"), recipients.Select(Spool.SpoolTestData.Recipient).ToArray()) { }

    public string QueueId => "T1";
    public DateTimeOffset ReceivedAt { get; } = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    public TransactionKind Kind => kind;
    public SmtpAddress ReversePath => reversePath;
    public IReadOnlyList<EnvelopeRecipient> Recipients => recipients;
    public IMessageContent Content { get; } = new InMemoryMessageContent(text);

    /// <summary>A request for all of this message's recipients on one route.</summary>
    public DeliveryRequest To(RouteKind kind, string target) => new(this, Recipients, new Route(kind, target));
}

/// <summary>As the queue hands it to the engine's agents: with the envelope as stored (BODY, RET, ENVID, SMTPUTF8).</summary>
internal sealed class TestSpooledMessage(SpoolEnvelope envelope)
    : TestMessage(envelope.Kind, envelope.ReversePath, envelope.Recipients), ISpooledMessage
{
    public SpoolEnvelope Envelope => envelope;
    public SpoolLocation Location => default;
}
