// A script's handler called with hand-built contexts: the script is loaded as the server loads it, without a server.
using Mta.Abstractions;
using Mta.Testing;
using Xunit;

namespace SiteTests;

public sealed class BlockSenderScriptHandlerTests
{
    private static string Script => Path.Combine(AppContext.BaseDirectory, "samples", "block-sender.csx");

    [Fact]
    public async Task Mail_handler_refuses_a_listed_sender_and_lets_others_through()
    {
        var ct = TestContext.Current.CancellationToken;
        using var script = await ScriptUnderTest.LoadAsync(Script,
            new Dictionary<string, string?> { ["Senders:0"] = "spammer@bad.test" }, cancellationToken: ct);
        var session = new FakeSession();

        var refused = await script.RunAsync(
            new MailContext(session, new FakeTransaction { ReversePath = new SmtpAddress("spammer", "bad.test") }), ct);
        Assert.Equal(HookDecision.Reject, refused.Decision);
        Assert.Equal(550, refused.Code);

        var passed = await script.RunAsync(
            new MailContext(session, new FakeTransaction { ReversePath = new SmtpAddress("friend", "good.test") }), ct);
        Assert.Equal(HookDecision.Continue, passed.Decision);

        Assert.Equal(["script:block-sender", "script:block-sender"], script.Recorder.Calls.Select(c => c.Handler));
    }
}
