// A plugin's handler called with hand-built contexts: no server, no sockets.
using Mta.Abstractions;
using Mta.Testing;
using Xunit;

namespace SiteTests;

public sealed class RecipientAllowListPluginTests
{
    [Fact]
    public async Task Unlisted_local_user_is_refused_and_listed_one_passes()
    {
        var ct = TestContext.Current.CancellationToken;
        var context = new FakePluginContext(new Dictionary<string, string?> { ["Users:0"] = "alice" });
        new RecipientAllowListPlugin().Register(context);
        var session = new FakeSession();
        var transaction = new FakeTransaction();

        var refused = await context.Recorder.InvokeAsync("allow-list",
            new RcptContext(session, transaction, new EnvelopeRecipient(new SmtpAddress("bob", "example.test")), IsLocalDomain: true), ct);
        Assert.Equal(550, refused.Code);

        var passed = await context.Recorder.RunAsync(
            new RcptContext(session, transaction, new EnvelopeRecipient(new SmtpAddress("alice", "example.test")), IsLocalDomain: true), ct);
        Assert.Equal(HookDecision.Continue, passed.Decision);

        Assert.Equal(["allow-list", "allow-list"], context.Recorder.Calls.Select(c => c.Handler));
    }
}
