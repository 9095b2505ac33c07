// The pickup hands maildrop files to the engine's own SMTP session: hooks see listener "pickup" and the file owner's
// user; the sender is believed for trusted users only; refusals and deferrals decide the file's fate.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Mta.Abstractions;
using Mta.Engine.Pickup;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Pickup;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PickupServiceTests
{
    private static ValueTask<HookResult> R(HookResult r) => ValueTask.FromResult(r);

    private static readonly byte[] Message = Encoding.UTF8.GetBytes("Subject: local\r\n\r\nbody\r\n");

    private sealed record Seen(string Listener, string? User, string Sender, string Recipient);

    private static (InMemorySmtpServer Server, PickupService Pickup, ConcurrentQueue<Seen> Seen) Start(Func<RcptContext, HookResult>? rcpt = null,
        Func<MailContext, HookResult>? mail = null)
    {
        var seen = new ConcurrentQueue<Seen>();
        var server = InMemorySmtpServer.Create(hooks: r =>
        {
            r.Register<MailContext>("mail", (ctx, ct) => R(mail?.Invoke(ctx) ?? HookResult.Continue));
            r.Register<RcptContext>("record", (ctx, ct) =>
            {
                seen.Enqueue(new Seen(ctx.Session.ListenerName, ctx.Session.AuthenticatedUser, ctx.Transaction.ReversePath.ToString(), ctx.Recipient.Address.ToString()));
                return R(rcpt?.Invoke(ctx) ?? HookResult.Continue);
            });
        });
        var pickup = server.Services.GetRequiredService<PickupService>();
        PickupService.CreateMaildrop(pickup.Directory);
        return (server, pickup, seen);
    }

    private static string Drop(PickupService pickup, string? sender, params string[] recipients) =>
        Path.GetFileName(MaildropFile.Write(pickup.Directory, new MaildropEnvelope(sender, recipients), Message));

    private static void SkipUnlessRoot()
    {
        if (Environment.UserName != "root") Assert.Skip("needs root, to give a maildrop file to another owner");
    }

    [Fact]
    public async Task Hooks_see_the_pickup_listener_and_the_owner_and_a_trusted_users_sender_is_kept()
    {
        SkipUnlessRoot();
        var (server, pickup, seen) = Start();
        await using var _ = server;
        var name = Drop(pickup, "boss@example.org", "bob@example.test");
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.Equal(new Seen("pickup", "root", "boss@example.org", "bob@example.test"), Assert.Single(seen));
        Assert.False(File.Exists(Path.Combine(pickup.Directory, name)));
    }

    [Fact]
    public async Task An_untrusted_owners_sender_is_replaced_by_theirs()
    {
        SkipUnlessRoot();
        var (server, pickup, seen) = Start();
        await using var _ = server;
        var name = Drop(pickup, "boss@example.org", "bob@example.test");
        using (var chown = Process.Start("chown", ["65534", Path.Combine(pickup.Directory, name)])) await chown.WaitForExitAsync();
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.Equal(new Seen("pickup", "nobody", "nobody@mta.test", "bob@example.test"), Assert.Single(seen));
    }

    [Fact]
    public async Task Refused_recipients_are_dropped_and_the_rest_delivered()
    {
        var (server, pickup, seen) = Start(rcpt: ctx => ctx.Recipient.Address.LocalPart == "nope" ? HookResult.Reject("No such user", 550, "5.1.1") : HookResult.Continue);
        await using var _ = server;
        var name = Drop(pickup, null, "nope@example.test", "yes@example.test");
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.Equal(2, seen.Count);
        Assert.False(File.Exists(Path.Combine(pickup.Directory, name)));
        Assert.False(File.Exists(Path.Combine(pickup.CorruptDirectory, name)));
    }

    [Fact]
    public async Task A_file_every_recipient_of_which_is_refused_is_bounced_to_the_sender()
    {
        var (server, pickup, _) = Start(rcpt: _ => HookResult.Reject("No such user", 550, "5.1.1"));
        await using var __ = server;
        var name = Drop(pickup, null, "nope@example.test");
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.False(File.Exists(Path.Combine(pickup.Directory, name)));
        Assert.False(File.Exists(Path.Combine(pickup.CorruptDirectory, name)));
    }

    [Fact]
    public async Task A_refused_file_from_the_null_sender_moves_to_corrupt_with_the_reason()
    {
        SkipUnlessRoot(); // root may send from <>
        var (server, pickup, _) = Start(rcpt: _ => HookResult.Reject("No such user", 550, "5.1.1"));
        await using var __ = server;
        var name = Drop(pickup, "", "nope@example.test");
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.False(File.Exists(Path.Combine(pickup.Directory, name)));
        Assert.True(File.Exists(Path.Combine(pickup.CorruptDirectory, name)));
        Assert.Contains("No such user", File.ReadAllText(Path.Combine(pickup.CorruptDirectory, name + ".error")));
    }

    [Fact]
    public async Task A_temporary_refusal_leaves_the_file_for_the_next_scan()
    {
        var defer = true;
        var (server, pickup, seen) = Start(mail: _ => defer ? HookResult.Defer("Try later", 451, "4.7.1") : HookResult.Continue);
        await using var _ = server;
        var name = Drop(pickup, null, "later@example.test");
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.True(File.Exists(Path.Combine(pickup.Directory, name)));
        Assert.Empty(seen);
        defer = false;
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.Single(seen);
        Assert.False(File.Exists(Path.Combine(pickup.Directory, name)));
    }

    [Fact]
    public async Task A_hard_link_is_not_taken_for_its_owners_submission()
    {
        var (server, pickup, seen) = Start();
        await using var _ = server;
        var name = Drop(pickup, null, "bob@example.test");
        var other = Path.Combine(server.Root, "elsewhere");
        using (var ln = Process.Start("ln", [Path.Combine(pickup.Directory, name), other])) await ln.WaitForExitAsync();
        await pickup.TakeAsync(name, CancellationToken.None);
        Assert.Empty(seen);
        Assert.Contains("2 links", File.ReadAllText(Path.Combine(pickup.CorruptDirectory, name + ".error")));
    }

    [Theory]
    [InlineData("Pickup:TrustedUsers:0", "Pickup", "bad user")]
    [InlineData("Pickup:Directory", "Directory", " ")]
    public void Bad_pickup_settings_are_named(string key, string what, string value)
    {
        var options = new Mta.Engine.Configuration.MtaOptions { Listeners = [new Mta.Engine.Configuration.ListenerOptions()] };
        if (what == "Directory") options.Pickup.Directory = value;
        else options.Pickup.TrustedUsers.Add(value);
        Assert.Contains(Mta.Engine.Configuration.MtaOptionsValidator.Validate(options), e => e.StartsWith(key + ":", StringComparison.Ordinal));
    }
}
