// The local delivery agents behind IDeliveryAgent: Maildir, terminal (SEND, SOML, SAML) and discard, with structured outcomes.
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Terminal;

namespace Mta.Engine.Tests.Delivery;

public sealed class LocalAgentTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly MtaOptions _options;
    private readonly MtaPaths _paths;
    private readonly MaildirAgent _maildir;

    public LocalAgentTests()
    {
        _options = new MtaOptions { DataDirectory = _dir.Path };
        _paths = new MtaPaths(_options);
        _maildir = new MaildirAgent(new MaildirDelivery(_paths, new FakeTimeProvider()), _options, NullLogger<MaildirAgent>.Instance);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _dir.Dispose();

    private string[] Inbox(string user)
    {
        var dir = Path.Combine(_paths.MaildirRoot, user, "new");
        return Directory.Exists(dir) ? Directory.GetFiles(dir) : [];
    }

    [Fact]
    public async Task Maildir_gives_every_recipient_its_own_copy_and_a_delivered_outcome()
    {
        var message = new TestMessage("alice@example.org", "Alice@other.example");

        var result = await _maildir.DeliverAsync(message.To(RouteKind.Mailbox, "alice"), Ct);

        Assert.Equal(2, result.Recipients.Count);
        var files = Inbox("alice").Select(Path.GetFileName).ToHashSet();
        Assert.Equal(2, files.Count);
        Assert.All(result.Recipients, o =>
        {
            Assert.Equal((DeliveryStatus.Delivered, "2.0.0", SuccessNotice.Delivered), (o.Status, o.EnhancedStatus, o.Notice));
            Assert.StartsWith("maildir ", o.Detail, StringComparison.Ordinal);
            Assert.Contains(o.Detail["maildir ".Length..], files);
            Assert.Null(o.RemoteReply);
            Assert.Null(o.RemoteHost);
        });
    }

    [Fact]
    public async Task Maildir_refuses_an_unusable_user_name_with_5_1_3()
    {
        var result = await _maildir.DeliverAsync(new TestMessage("x@example.org").To(RouteKind.Mailbox, "../etc"), Ct);

        var outcome = Assert.Single(result.Recipients);
        Assert.Equal((DeliveryStatus.Failed, "5.1.3"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Equal("5.1.3 '../etc' is not a usable mailbox name", outcome.Detail);
    }

    [Fact]
    public async Task Maildir_defers_only_the_copy_it_could_not_write()
    {
        // A file where bob's Maildir should be: his copy cannot be written, alice's can.
        Directory.CreateDirectory(_paths.MaildirRoot);
        await File.WriteAllTextAsync(Path.Combine(_paths.MaildirRoot, "bob"), "not a directory", Ct);
        var message = new TestMessage("alice@example.org", "bob@example.org");

        var alice = await _maildir.DeliverAsync(new DeliveryRequest(message, [message.Recipients[0]], new Route(RouteKind.Mailbox, "alice")), Ct);
        var bob = await _maildir.DeliverAsync(new DeliveryRequest(message, [message.Recipients[1]], new Route(RouteKind.Mailbox, "bob")), Ct);

        Assert.Equal(DeliveryStatus.Delivered, Assert.Single(alice.Recipients).Status);
        var deferred = Assert.Single(bob.Recipients);
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (deferred.Status, deferred.EnhancedStatus));
        Assert.StartsWith("4.3.0 ", deferred.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Discard_delivers_without_a_success_notice()
    {
        var result = await new DiscardAgent().DeliverAsync(new TestMessage("a@example.org", "b@example.org").To(RouteKind.Discard, "spam trap"), Ct);

        Assert.Equal(2, result.Recipients.Count);
        Assert.All(result.Recipients, o =>
            Assert.Equal((DeliveryStatus.Delivered, "2.0.0", "discarded: spam trap", SuccessNotice.None), (o.Status, o.EnhancedStatus, o.Detail, o.Notice)));
    }

    [Fact]
    public async Task Terminal_delivery_while_terminals_are_off_waits_with_4_3_2()
    {
        var agent = new TerminalAgent(new FakeTerminals { Enabled = false }, _maildir, _options, NullLogger<TerminalAgent>.Instance);

        var outcome = Assert.Single((await agent.DeliverAsync(new TestMessage(TransactionKind.Send, "bob@example.org").To(RouteKind.Terminal, "bob"), Ct)).Recipients);

        Assert.Equal((DeliveryStatus.Deferred, "4.3.2", "4.3.2 no terminal delivery configured"), (outcome.Status, outcome.EnhancedStatus, outcome.Detail));
        Assert.Empty(Inbox("bob"));
    }

    [Theory]
    // SEND: the terminal or a bounce, never the mailbox.
    [InlineData(TransactionKind.Send, true, DeliveryStatus.Delivered, "terminal bob", 0)]
    [InlineData(TransactionKind.Send, false, DeliveryStatus.Failed, "5.2.1 bob is no longer logged in on any terminal", 0)]
    // SOML: the terminal, or the mailbox when the user left.
    [InlineData(TransactionKind.SendOrMail, true, DeliveryStatus.Delivered, "terminal bob", 0)]
    [InlineData(TransactionKind.SendOrMail, false, DeliveryStatus.Delivered, "maildir ", 1)]
    // SAML: the mailbox always, the terminal too when the user is there.
    [InlineData(TransactionKind.SendAndMail, true, DeliveryStatus.Delivered, "terminal and maildir ", 1)]
    [InlineData(TransactionKind.SendAndMail, false, DeliveryStatus.Delivered, "maildir ", 1)]
    public async Task Terminal_delivery_follows_the_kind_of_transaction(TransactionKind kind, bool active, DeliveryStatus status, string detail, int mailboxCopies)
    {
        var terminals = new FakeTerminals { Active = active };
        var agent = new TerminalAgent(terminals, _maildir, _options, NullLogger<TerminalAgent>.Instance);

        var outcome = Assert.Single((await agent.DeliverAsync(new TestMessage(kind, "bob@example.org").To(RouteKind.Terminal, "bob"), Ct)).Recipients);

        Assert.Equal(status, outcome.Status);
        Assert.StartsWith(detail, outcome.Detail, StringComparison.Ordinal);
        Assert.Equal(status == DeliveryStatus.Failed ? "5.2.1" : "2.0.0", outcome.EnhancedStatus);
        Assert.Equal(mailboxCopies, Inbox("bob").Length);
        Assert.Equal(active ? ["agents"] : [], terminals.Shown.Select(m => m.Subject));
    }

    private sealed class FakeTerminals : ITerminals
    {
        public bool Enabled { get; init; } = true;
        public bool Active { get; init; }
        public List<TerminalMessage> Shown { get; } = [];

        public ValueTask<bool> IsActiveAsync(string user, CancellationToken cancellationToken) => ValueTask.FromResult(Active);

        public ValueTask<bool> DeliverAsync(string user, TerminalMessage message, CancellationToken cancellationToken)
        {
            if (Active) Shown.Add(message);
            return ValueTask.FromResult(Active);
        }
    }
}
