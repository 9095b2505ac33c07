// Unit tests of the shipped plugin assembly, driven through its registered hooks and agent with a fake queue.
using Mta.Abstractions;
using Mta.MailingLists.Tests.Infrastructure;
using static Mta.MailingLists.Tests.Infrastructure.PluginHarness;

namespace Mta.MailingLists.Tests;

public sealed class ExpansionTests
{
    private static PluginHarness Dev(params (string Key, string? Value)[] extra)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Lists:dev@example.test:Description"] = "Developers",
            ["Lists:dev@example.test:Members:0"] = "alice",
            ["Lists:dev@example.test:Members:1"] = "Bob Builder <bob@example.test>",
            ["Lists:dev@example.test:Members:2"] = "ALICE@Example.Test",
            ["Lists:dev@example.test:Members:3"] = "ops@example.test",
            ["Lists:ops@example.test:Members:0"] = "carol@example.test",
            ["Lists:ops@example.test:Members:1"] = "bob@example.test",
        };
        foreach (var (k, v) in extra) settings[k] = v;
        return new PluginHarness(settings);
    }

    [Fact]
    public async Task Expansion_queues_one_message_to_the_deduplicated_members_from_the_owner()
    {
        var plugin = Dev();
        var message = Message("sender@remote.test", ["dev@example.test"], SampleMessage);

        var outcome = await plugin.DeliverAsync(message, message.Recipients[0]);

        Assert.Equal(DeliveryStatus.Delivered, outcome!.Status);
        Assert.Equal("expanded to 3 members as S1", outcome.Detail);
        var copy = Assert.Single(plugin.Queue.Submissions);
        Assert.Equal("owner-dev@example.test", copy.ReversePath.ToString());
        Assert.Equal(["alice@example.test", "bob@example.test", "ops@example.test"], copy.Recipients.Select(r => r.Address.ToString()));
        Assert.All(copy.Recipients, r => Assert.Equal(DsnNotify.Default, r.Notify));
    }

    [Fact]
    public async Task Expansion_adds_ListId_and_XLoop_and_keeps_the_rest_byte_for_byte()
    {
        var plugin = Dev();
        var message = Message("sender@remote.test", ["dev@example.test"], SampleMessage);
        await plugin.DeliverAsync(message, message.Recipients[0]);

        var copy = plugin.Queue.Submissions[0];
        Assert.Equal(["Developers <dev.example.test>"], copy.HeaderValues("List-Id"));
        Assert.Equal(["dev@example.test"], copy.HeaderValues("X-Loop"));
        var original = message.Text;
        var text = copy.Text;
        Assert.StartsWith("Received: from client.test", text);
        // The new fields end the header; the body (with its header-looking line) is untouched.
        var body = original[original.IndexOf("\r\n\r\n", StringComparison.Ordinal)..];
        Assert.EndsWith("Message-ID: <1@remote.test>\r\nList-Id: Developers <dev.example.test>\r\nX-Loop: dev@example.test" + body, text);
    }

    [Fact]
    public async Task A_configured_owner_is_the_envelope_sender()
    {
        var plugin = Dev(("Lists:dev@example.test:Owner", "listmaster@example.test"));
        var message = Message("sender@remote.test", ["dev@example.test"], SampleMessage);
        await plugin.DeliverAsync(message, message.Recipients[0]);
        Assert.Equal("listmaster@example.test", plugin.Queue.Submissions[0].ReversePath.ToString());
    }

    [Theory]
    [InlineData("X-Loop: dev@example.test\r\n")]
    [InlineData("X-Loop: <DEV@example.test>\r\n")]
    [InlineData("X-Loop:\r\n dev@example.test\r\n")]
    [InlineData("List-Id: Someone else's copy <dev.example.test>\r\n")]
    public async Task A_message_that_already_went_through_the_list_is_refused_as_a_loop(string field)
    {
        var plugin = Dev();
        var message = Message("owner-dev@example.test", ["dev@example.test"], field + SampleMessage);

        var outcome = await plugin.DeliverAsync(message, message.Recipients[0]);

        Assert.Equal((DeliveryStatus.Failed, "5.4.6"), (outcome!.Status, outcome.EnhancedStatus));
        Assert.Equal("mail loop detected for dev@example.test", outcome.Detail);
        Assert.Empty(plugin.Queue.Submissions);
    }

    [Fact]
    public async Task Expansion_stops_at_MaxDepth_list_hops()
    {
        var plugin = Dev(("MaxDepth", "2"));
        var oneHop = Message("x@example.test", ["dev@example.test"], "X-Loop: a@example.test\r\n" + SampleMessage);
        var twoHops = Message("x@example.test", ["dev@example.test"], "X-Loop: a@example.test\r\nX-Loop: b@example.test\r\n" + SampleMessage);

        Assert.Equal(DeliveryStatus.Delivered, (await plugin.DeliverAsync(oneHop, oneHop.Recipients[0]))!.Status);
        var refused = await plugin.DeliverAsync(twoHops, twoHops.Recipients[0]);

        Assert.Equal(DeliveryStatus.Failed, refused!.Status);
        Assert.Contains("deeper than 2", refused.Detail);
        Assert.Equal(["a@example.test", "dev@example.test"], plugin.Queue.Submissions.Single().HeaderValues("X-Loop").Order());
    }

    [Fact]
    public async Task Nested_lists_expand_in_turn_and_each_member_gets_one_copy()
    {
        var plugin = Dev();
        var run = await plugin.RunQueueAsync(Message("sender@remote.test", ["dev@example.test"], SampleMessage));

        // bob is in both lists: ops sees him among the recipients of dev's entry and leaves him out.
        Assert.Equal(["alice@example.test", "bob@example.test", "carol@example.test"], run.Mailboxes.Select(m => m.Address).Order());
        Assert.All(run.Outcomes, o => Assert.Equal(DeliveryStatus.Delivered, o.Outcome.Status));
        var carol = (FakeQueuedMessage)run.Mailboxes.Single(m => m.Address == "carol@example.test").Message;
        Assert.Equal("owner-ops@example.test", carol.ReversePath.ToString());
        Assert.Equal(["<ops.example.test>"], carol.HeaderValues("List-Id"));
        Assert.Equal(["dev@example.test", "ops@example.test"], carol.HeaderValues("X-Loop"));
        var alice = (FakeQueuedMessage)run.Mailboxes.Single(m => m.Address == "alice@example.test").Message;
        Assert.Equal(["Developers <dev.example.test>"], alice.HeaderValues("List-Id"));
    }

    [Fact]
    public async Task A_list_that_contains_itself_or_its_parent_terminates_with_one_copy_each()
    {
        var plugin = new PluginHarness(new Dictionary<string, string?>
        {
            ["Lists:self@example.test:Members:0"] = "self@example.test",
            ["Lists:self@example.test:Members:1"] = "alice@example.test",
            ["Lists:self@example.test:Members:2"] = "ring@example.test",
            ["Lists:ring@example.test:Members:0"] = "self@example.test",
            ["Lists:ring@example.test:Members:1"] = "bob@example.test",
        });

        var run = await plugin.RunQueueAsync(Message("sender@remote.test", ["self@example.test"], SampleMessage), maxSteps: 50);

        Assert.Equal(["alice@example.test", "bob@example.test"], run.Mailboxes.Select(m => m.Address).Order());
        Assert.Equal(2, plugin.Queue.Submissions.Count);
        Assert.All(run.Outcomes, o => Assert.Equal(DeliveryStatus.Delivered, o.Outcome.Status));
    }

    [Fact]
    public async Task A_long_chain_of_lists_is_cut_at_MaxDepth()
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 1; i <= 8; i++)
        {
            settings[$"Lists:l{i}@example.test:Members:0"] = $"u{i}@example.test";
            settings[$"Lists:l{i}@example.test:Members:1"] = $"l{i + 1}@example.test";
        }
        var plugin = new PluginHarness(settings);

        var run = await plugin.RunQueueAsync(Message("sender@remote.test", ["l1@example.test"], SampleMessage));

        Assert.Equal(5, run.Mailboxes.Count); // u1..u5: five expansions, the default MaxDepth
        var cut = Assert.Single(run.Outcomes, o => o.Outcome.Status == DeliveryStatus.Failed);
        Assert.Equal("l6@example.test", cut.Address);
    }

    [Fact]
    public async Task Two_lists_in_one_call_are_expanded_each_on_its_own_and_a_failed_one_is_deferred_alone()
    {
        var plugin = Dev();
        // The spool takes the copy for dev's members, then fails for ops's: dev must not be expanded again by the retry.
        plugin.Queue.Failure = recipients => recipients.Any(r => r.Address.LocalPart == "carol") ? new IOException("disk full") : null;
        var message = Message("sender@remote.test", ["dev@example.test", "ops@example.test"], SampleMessage);

        var result = await plugin.DeliverTogetherAsync(message, "lists");

        Assert.Equal((DeliveryStatus.Delivered, "2.0.0"), (result.Recipients[0].Status, result.Recipients[0].EnhancedStatus));
        Assert.Equal((DeliveryStatus.Deferred, "4.3.0", "expanding <ops@example.test> failed: IOException: disk full"),
            (result.Recipients[1].Status, result.Recipients[1].EnhancedStatus, result.Recipients[1].Detail));
        Assert.Single(plugin.Queue.Submissions);
    }

    [Fact]
    public async Task An_empty_list_is_delivered_with_nothing_queued()
    {
        var plugin = new PluginHarness(new Dictionary<string, string?> { ["Lists:quiet@example.test:Description"] = "Nobody" });
        var message = Message("sender@remote.test", ["quiet@example.test"], SampleMessage);

        var outcome = await plugin.DeliverAsync(message, message.Recipients[0]);

        Assert.Equal(DeliveryOutcome.Delivered("no members"), outcome);
        Assert.Empty(plugin.Queue.Submissions);
    }

    [Fact]
    public async Task Members_also_addressed_directly_in_the_same_message_are_not_sent_twice()
    {
        var plugin = Dev();
        var message = Message("sender@remote.test", ["alice@example.test", "dev@example.test"], SampleMessage);
        await plugin.DeliverAsync(message, message.Recipients[1]);
        Assert.Equal(["bob@example.test", "ops@example.test"], plugin.Queue.Submissions[0].Recipients.Select(r => r.Address.ToString()));
    }

    [Fact]
    public async Task Rcpt_accepts_list_addresses_in_any_case_and_leaves_others_alone()
    {
        var plugin = Dev();
        Assert.Equal(HookDecision.Accept, (await plugin.RcptAsync("dev@example.test")).Decision);
        Assert.Equal(HookDecision.Accept, (await plugin.RcptAsync("DEV@Example.TEST")).Decision);
        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("alice@example.test")).Decision);
        Assert.Equal(HookDecision.Continue, (await plugin.RcptAsync("dev@other.test")).Decision);
    }

    [Fact]
    public async Task Route_sends_lists_to_the_lists_agent_only()
    {
        var plugin = Dev();
        var message = Message("sender@remote.test", ["dev@example.test", "alice@example.test"], SampleMessage);
        Assert.Equal(new Route(RouteKind.Agent, "lists"), await plugin.RouteAsync(message, message.Recipients[0]));
        Assert.Null(await plugin.RouteAsync(message, message.Recipients[1]));
        Assert.True(plugin.Agents.ContainsKey("lists"));
    }

    [Fact]
    public async Task Expn_is_not_answered_unless_allowed()
    {
        var plugin = Dev();
        Assert.Equal(0, plugin.HookCount<ExpnContext>());
        Assert.Equal(HookDecision.Continue, (await plugin.ExpnAsync("dev@example.test")).Decision);
    }

    [Theory]
    [InlineData("dev@example.test")]
    [InlineData("<Dev@Example.test>")]
    [InlineData("dev")]
    public async Task Expn_lists_the_members_when_allowed(string argument)
    {
        var plugin = Dev(("AllowExpn", "true"));
        var result = await plugin.ExpnAsync(argument);
        Assert.Equal(HookDecision.Accept, result.Decision);
        Assert.Equal(250, result.Code);
        Assert.Equal("<alice@example.test>\nBob Builder <bob@example.test>\n<ops@example.test>", result.Text);
    }

    [Fact]
    public async Task Expn_of_a_non_list_or_an_ambiguous_name_is_not_a_membership_answer()
    {
        var plugin = Dev(("AllowExpn", "true"), ("Lists:dev@other.test:Members:0", "zed@other.test"));
        Assert.Equal(HookDecision.Continue, (await plugin.ExpnAsync("alice@example.test")).Decision);
        var ambiguous = await plugin.ExpnAsync("dev");
        Assert.Equal(553, ambiguous.Code);
        Assert.Equal("<zed@other.test>", (await plugin.ExpnAsync("dev@other.test")).Text);
    }

    [Theory]
    [InlineData("Lists:dev@example.test:Members:0", "not an address")]
    [InlineData("Lists:dev@example.test:Owner", "a b")]
    [InlineData("MaxDepth", "0")]
    [InlineData("AllowExpn", "perhaps")]
    public void Bad_settings_stop_registration_with_the_key(string key, string value)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new PluginHarness(new Dictionary<string, string?> { [key] = value }));
        Assert.Contains(key.Split(':')[0], ex.Message);
    }

    [Fact]
    public void The_plugin_output_carries_neither_the_contract_nor_MimeKit()
    {
        var files = Directory.GetFiles(PluginBuild.Directory).Select(Path.GetFileName).ToList();
        Assert.Contains("Mta.Plugins.MailingLists.dll", files);
        Assert.DoesNotContain("Mta.Abstractions.dll", files);
        Assert.DoesNotContain("MimeKit.dll", files);
        Assert.DoesNotContain(files, f => f!.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal));
    }
}
