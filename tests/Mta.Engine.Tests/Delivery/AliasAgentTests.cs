// Alias expansion at delivery: recursion, self-reference, loops, depth, owner-, the delimiter, :include:, and file and
// pipe targets reaching their agents as the right account (fakes stand in for the agents and the passwd database).
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Mta.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Delivery;
using Mta.Engine.Extensibility.Plugins;
using Mta.Engine.Maps;
using Mta.Engine.Routing;
using Mta.Engine.Spool;

namespace Mta.Engine.Tests.Delivery;

public sealed class AliasAgentTests : IDisposable
{
    private static readonly UnixAccount Nobody = new("nobody", 65534, 65534, "/nonexistent", "/usr/sbin/nologin");
    private static readonly UnixAccount Listmaster = new("listmaster", 1000, 1000, "/home/listmaster", "/bin/sh");

    private readonly TestDirectory _dir = new();
    private readonly MtaOptions _options;
    private readonly Dictionary<string, uint> _owners = new(StringComparer.Ordinal);
    private readonly RecordingMailbox _mailbox = new();
    private readonly RecordingTargets _targets = new();
    private readonly RecordingSpool _spool = new();
    private readonly Infrastructure.CapturingLoggerProvider _logs = new();
    private AliasTable? _table;

    public AliasAgentTests()
    {
        _options = new MtaOptions
        {
            DataDirectory = _dir.Path,
            HostName = "mx.example.org",
            LocalDomains = ["example.org", "example.net"],
            Mailboxes = { AcceptAnyLocalPart = true },
        };
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        _table?.Dispose();
        _dir.Dispose();
    }

    private string Write(string name, string text, uint owner = 0)
    {
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllText(path, text);
        _owners[path] = owner;
        return path;
    }

    private AliasAgent Agent(string aliases, uint owner = 0, bool lmtp = false)
    {
        _options.Aliases.Files = [Write("aliases", aliases, owner)];
        _table = new AliasTable(_options, new MtaPaths(_options), NullLogger.Instance, watch: false);
        var accounts = new AliasAccounts(p => _owners.TryGetValue(p, out var uid) ? uid : null,
            uid => uid == Listmaster.Uid ? Listmaster : null, name => name == "nobody" ? Nobody : null);
        var submitter = new MessageSubmitter(_spool, _options, new FakeTimeProvider(), NullLogger<MessageSubmitter>.Instance);
        return new AliasAgent(_table, _options, _mailbox, lmtp, submitter, _targets, _targets, new FakeTimeProvider(),
            new Microsoft.Extensions.Logging.Logger<AliasAgent>(new Microsoft.Extensions.Logging.LoggerFactory([_logs])), accounts);
    }

    private static async Task<DeliveryOutcome> DeliverAsync(AliasAgent agent, string recipient, string? text = null, string? orcpt = null)
    {
        var at = recipient.IndexOf('@', StringComparison.Ordinal);
        var rcpt = new EnvelopeRecipient(new SmtpAddress(recipient[..at], recipient[(at + 1)..]), DsnNotify.Default, orcpt);
        var message = new TestMessage(TransactionKind.Mail, new SmtpAddress("s", "remote.test"), [rcpt], text ?? TestMessage.Text);
        var result = await agent.DeliverAsync(new DeliveryRequest(message, [rcpt], new Route(RouteKind.Mailbox, recipient[..at].ToLowerInvariant())), Ct);
        return Assert.Single(result.Recipients);
    }

    [Fact]
    public async Task An_alias_to_two_local_users_delivers_to_both_mailboxes_with_the_alias_as_ORCPT()
    {
        var agent = Agent("staff: alice, Bob@example.net\n");

        var outcome = await DeliverAsync(agent, "staff@example.org");

        Assert.Equal((DeliveryStatus.Delivered, SuccessNotice.Expanded), (outcome.Status, outcome.Notice));
        Assert.Equal(["alice", "bob"], _mailbox.Routes);
        Assert.Equal(["alice@example.org", "bob@example.org"], _mailbox.Recipients.Select(r => r.Address.ToString()));
        Assert.All(_mailbox.Recipients, r => Assert.Equal("rfc822;staff@example.org", r.OriginalRecipient));
    }

    [Fact]
    public async Task Every_target_is_logged_with_the_alias_as_orig_to()
    {
        var agent = Agent("staff: alice, /var/mail/archive, |/bin/cat, far@remote.test\n");

        await DeliverAsync(agent, "staff@example.org");

        var lines = _logs.WithEvent(LogEvents.Maps.AliasTarget).Select(l => l.Message).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Contains("T1: to=<alice@example.org> orig_to=<staff@example.org> route=alias:mailbox result=delivered (mailbox alice)", lines);
        Assert.Contains("T1: to=</var/mail/archive> orig_to=<staff@example.org> route=alias:file result=delivered (file /var/mail/archive)", lines);
        Assert.Contains("T1: to=<|/bin/cat> orig_to=<staff@example.org> route=alias:command result=delivered (pipe /bin/cat)", lines);
        Assert.Contains(lines, l => l.StartsWith("T1: to=<far@remote.test> orig_to=<staff@example.org> route=alias:remote result=delivered (forwarded as ", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("a@example.org", null, "")]
    [InlineData("a@example.org", "rfc822;A@example.org", "")]
    [InlineData("a@example.org", "rfc822;list@example.org", " orig_to=<list@example.org>")]
    [InlineData("a@example.org", "list@example.org", " orig_to=<list@example.org>")]
    public void The_queue_log_names_the_original_recipient_when_it_differs(string address, string? orcpt, string expected)
    {
        var at = address.IndexOf('@', StringComparison.Ordinal);
        var recipient = new EnvelopeRecipient(new SmtpAddress(address[..at], address[(at + 1)..]), DsnNotify.Default, orcpt);

        Assert.Equal(expected, Mta.Engine.Queue.DeliveryJournal.OrigTo(recipient));
    }

    [Fact]
    public async Task With_LMTP_local_users_go_to_the_mailbox_agent_by_address_and_it_decides_who_exists()
    {
        _options.Mailboxes.AcceptAnyLocalPart = false;
        _options.Mailboxes.SystemUsers = false;
        var agent = Agent("staff: alice, bob@example.net\n", lmtp: true);

        Assert.True(agent.Handles("Staff@example.org"));
        var outcome = await DeliverAsync(agent, "staff@example.org");

        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal(["alice@example.org", "bob@example.org"], _mailbox.Routes);
    }

    [Fact]
    public async Task Aliases_expand_recursively_and_an_alias_naming_itself_keeps_its_own_mailbox()
    {
        var agent = Agent("a: b, a\nb: c, d\nd: d, e\n");

        Assert.Equal(DeliveryStatus.Delivered, (await DeliverAsync(agent, "a@example.org")).Status);

        Assert.Equal(["c", "d", "e", "a"], _mailbox.Routes);
    }

    [Fact]
    public async Task A_backslash_name_is_a_mailbox_never_an_alias()
    {
        var agent = Agent("alice: \\alice, /tmp/copy\n");

        await DeliverAsync(agent, "alice@example.org");

        Assert.Equal(["alice"], _mailbox.Routes);
    }

    [Fact]
    public async Task A_cycle_stops_its_branch_and_the_rest_is_delivered()
    {
        var agent = Agent("a: b, x\nb: c\nc: a\n");

        var outcome = await DeliverAsync(agent, "a@example.org");

        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal(["x"], _mailbox.Routes);
    }

    [Fact]
    public async Task An_alias_that_is_nothing_but_a_cycle_bounces_5_4_6()
    {
        var agent = Agent("a: b\nb: a\n");

        var outcome = await DeliverAsync(agent, "a@example.org");

        Assert.Equal((DeliveryStatus.Failed, "5.4.6"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("a -> b -> a", outcome.Detail, StringComparison.Ordinal);
        Assert.Empty(_mailbox.Routes);
    }

    [Fact]
    public async Task Nesting_deeper_than_MaxDepth_bounces_5_4_6()
    {
        _options.Aliases.MaxDepth = 3;
        var agent = Agent("a1: a2\na2: a3\na3: a4\na4: user\n");

        var outcome = await DeliverAsync(agent, "a1@example.org");

        Assert.Equal((DeliveryStatus.Failed, "5.4.6"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("MaxDepth (3) at a4", outcome.Detail, StringComparison.Ordinal);
        Assert.Empty(_mailbox.Routes);
    }

    [Fact]
    public async Task Remote_targets_go_out_in_one_new_message_from_the_owner_with_the_alias_as_ORCPT()
    {
        var agent = Agent("list: alice, r1@remote.test, R2@Remote.Test\nowner-list: alice\n");

        var outcome = await DeliverAsync(agent, "list@example.org");

        Assert.Equal(DeliveryStatus.Delivered, outcome.Status);
        Assert.Equal(["alice"], _mailbox.Routes);
        var (envelope, content) = Assert.Single(_spool.Committed);
        Assert.Equal("owner-list@example.org", envelope.ReversePath.ToString());
        Assert.Equal(["r1@remote.test", "R2@remote.test"], envelope.Recipients.Select(r => r.Address.ToString()));
        Assert.All(envelope.Recipients, r => Assert.Equal("rfc822;list@example.org", r.OriginalRecipient));
        Assert.Contains("\r\nDelivered-To: list@example.org\r\nFrom: <s@remote.test>", content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_an_owner_the_forwarded_copy_keeps_the_original_sender_and_ORCPT()
    {
        var agent = Agent("fwd: someone@remote.test\n");

        var outcome = await DeliverAsync(agent, "fwd@example.org", orcpt: "rfc822;first@elsewhere.test");

        Assert.Equal((DeliveryStatus.Delivered, SuccessNotice.None), (outcome.Status, outcome.Notice));
        var (envelope, _) = Assert.Single(_spool.Committed);
        Assert.Equal("s@remote.test", envelope.ReversePath.ToString());
        Assert.Equal("rfc822;first@elsewhere.test", Assert.Single(envelope.Recipients).OriginalRecipient);
    }

    [Fact]
    public async Task A_message_that_already_went_through_the_alias_bounces_as_a_forwarding_loop()
    {
        var agent = Agent("fwd: someone@remote.test\n");

        var outcome = await DeliverAsync(agent, "fwd@example.org", "Delivered-To: FWD@example.org\r\n" + TestMessage.Text);

        Assert.Equal((DeliveryStatus.Failed, "5.4.6"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("mail forwarding loop", outcome.Detail, StringComparison.Ordinal);
        Assert.Empty(_spool.Committed);
    }

    [Fact]
    public async Task The_recipient_delimiter_finds_the_alias_of_the_user_part()
    {
        _options.Mailboxes.RecipientDelimiter = "+";
        var agent = Agent("staff: alice\n");

        Assert.True(agent.Handles("staff+tag"));
        Assert.True(agent.Handles("staff+tag@example.org"));
        Assert.False(agent.Handles("alice"));
        Assert.Equal(DeliveryStatus.Delivered, (await DeliverAsync(agent, "staff+tag@example.org")).Status);
        Assert.Equal(["alice"], _mailbox.Routes);
    }

    [Fact]
    public async Task Files_and_commands_of_a_root_owned_alias_file_run_as_the_default_user()
    {
        var agent = Agent("log: /var/log/archive, \"|/usr/bin/filter -v\"\n", owner: 0);

        Assert.Equal(DeliveryStatus.Delivered, (await DeliverAsync(agent, "log@example.org")).Status);

        Assert.Equal([("file", "/var/log/archive", "nobody"), ("pipe", "/usr/bin/filter -v", "nobody")], _targets.Calls);
        Assert.All(_targets.Recipients, r => Assert.Equal("rfc822;log@example.org", r.OriginalRecipient));
    }

    [Fact]
    public async Task Targets_of_an_include_file_run_as_the_include_files_owner()
    {
        var list = Write("list", "bob\n|/usr/bin/archive\n:include:" + Path.Combine(_dir.Path, "nested") + "\n", owner: Listmaster.Uid);
        Write("nested", "carol, dave@remote.test\n", owner: Listmaster.Uid);
        var agent = Agent($"team: :include:{list}, /srv/team.mbox\n", owner: 0);

        Assert.Equal(DeliveryStatus.Delivered, (await DeliverAsync(agent, "team@example.org")).Status);

        Assert.Equal(["bob", "carol"], _mailbox.Routes);
        Assert.Equal([("pipe", "/usr/bin/archive", "listmaster"), ("file", "/srv/team.mbox", "nobody")], _targets.Calls);
        Assert.Equal("dave@remote.test", Assert.Single(Assert.Single(_spool.Committed).Envelope.Recipients).Address.ToString());
    }

    [Fact]
    public async Task A_missing_include_file_defers_the_alias()
    {
        var agent = Agent($"team: alice, :include:{Path.Combine(_dir.Path, "missing")}\n");

        var outcome = await DeliverAsync(agent, "team@example.org");

        Assert.Equal((DeliveryStatus.Deferred, "4.3.5"), (outcome.Status, outcome.EnhancedStatus));
    }

    [Fact]
    public async Task Commands_refused_by_AllowCommands_bounce_5_7_1()
    {
        _options.Aliases.AllowCommands = false;
        var agent = Agent("run: |/bin/true\n");

        var outcome = await DeliverAsync(agent, "run@example.org");

        Assert.Equal((DeliveryStatus.Failed, "5.7.1"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Empty(_targets.Calls);
    }

    [Fact]
    public async Task An_unknown_local_target_fails_that_target_and_the_rest_is_delivered()
    {
        _options.Mailboxes.AcceptAnyLocalPart = false;
        _options.Mailboxes.SystemUsers = false;
        _options.Mailboxes.Users = ["alice"];
        var agent = Agent("staff: alice, ghost\n");

        var outcome = await DeliverAsync(agent, "staff@example.org");

        Assert.Equal((DeliveryStatus.Failed, "5.1.1"), (outcome.Status, outcome.EnhancedStatus));
        Assert.Contains("1 of 2 target(s) failed (ghost:", outcome.Detail, StringComparison.Ordinal);
        Assert.Equal(["alice"], _mailbox.Routes);
    }

    [Fact]
    public async Task A_deferred_target_defers_the_alias_and_the_retry_does_not_repeat_the_delivered_targets()
    {
        var agent = Agent("staff: alice, |/usr/bin/slow, far@remote.test\n");
        _targets.Next = DeliveryOutcome.Deferred("4.3.0", "4.3.0 busy");

        var first = await DeliverAsync(agent, "staff@example.org");
        _targets.Next = null;
        var second = await DeliverAsync(agent, "staff@example.org");

        Assert.Equal((DeliveryStatus.Deferred, "4.3.0"), (first.Status, first.EnhancedStatus));
        Assert.Contains("1 of 3 target(s) deferred", first.Detail, StringComparison.Ordinal);
        Assert.Equal(DeliveryStatus.Delivered, second.Status);
        Assert.Equal(["alice"], _mailbox.Routes);
        Assert.Single(_spool.Committed);
        Assert.Equal(2, _targets.Calls.Count);
    }

    [Fact]
    public async Task The_RCPT_policy_accepts_alias_names_and_the_user_part_before_the_delimiter()
    {
        _options.Mailboxes.AcceptAnyLocalPart = false;
        _options.Mailboxes.SystemUsers = false;
        _options.Mailboxes.RecipientDelimiter = "+";
        _ = Agent("staff: alice\n");
        var policy = new LocalRecipientPolicy(_options.Mailboxes, aliases: _table);

        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("staff"));
        Assert.Equal(LocalRecipientVerdict.Accepted, policy.Check("STAFF+news"));
        Assert.Equal(LocalRecipientVerdict.Unknown, policy.Check("nobody-here"));
        await Task.CompletedTask;
    }

    [Fact]
    public void Reload_takes_an_edited_file_keeps_the_old_table_on_a_bad_edit_and_takes_a_new_file_list()
    {
        _ = Agent("staff: alice\n");
        var table = _table!;
        var path = _options.Aliases.Files[0];

        File.WriteAllText(path, "staff: alice\nsales: bob\n");
        table.Reload(_options);
        Assert.NotNull(table.Find("sales"));

        File.WriteAllText(path, "staff: alice\nbroken\n");
        table.Reload(_options);
        Assert.NotNull(table.Find("sales"));

        var second = Write("more", "ops: carol\n");
        var changed = new MtaOptions { DataDirectory = _dir.Path, Aliases = { Files = [second] } };
        table.Reload(changed);
        Assert.NotNull(table.Find("ops"));
        Assert.Null(table.Find("staff"));
    }

    [Fact]
    public void Check_reports_syntax_errors_with_file_and_line_missing_files_and_bad_include_files()
    {
        var bad = Write("bad", "a: b\nnocolon\n");
        var include = Write("inc", "\"unclosed\n");
        var good = Write("good", $"x: :include:{include}, :include:{Path.Combine(_dir.Path, "absent")}\nx: y\n");
        var options = new MtaOptions { DataDirectory = _dir.Path, Aliases = { Files = [bad, good, Path.Combine(_dir.Path, "nofile")] } };
        var warnings = new List<string>();

        var errors = AliasTable.Check(options, new MtaPaths(options), warnings);

        Assert.Equal(4, errors.Count);
        Assert.StartsWith($"{bad}:2: ", errors[0], StringComparison.Ordinal);
        Assert.StartsWith(Path.Combine(_dir.Path, "nofile") + ": ", errors[1], StringComparison.Ordinal);
        Assert.Contains(errors, e => e.StartsWith($"{include}:1: ", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith(Path.Combine(_dir.Path, "absent") + " (:include:)", StringComparison.Ordinal));
        Assert.StartsWith($"{good}:2: duplicate alias 'x'", Assert.Single(warnings), StringComparison.Ordinal);
    }

    /// <summary>The mailbox agent: records each route and recipient and delivers.</summary>
    private sealed class RecordingMailbox : IDeliveryAgent
    {
        public List<string> Routes { get; } = [];
        public List<EnvelopeRecipient> Recipients { get; } = [];

        public ValueTask<DeliveryResult> DeliverAsync(DeliveryRequest request, CancellationToken cancellationToken)
        {
            Routes.Add(request.Route.Target);
            Recipients.AddRange(request.Recipients);
            return ValueTask.FromResult(request.ForAll(DeliveryOutcome.Delivered("mailbox " + request.Route.Target)));
        }
    }

    /// <summary>Pipe and file delivery: records what ran as whom, and answers <see cref="Next"/> (delivered when null).</summary>
    private sealed class RecordingTargets : IPipeDelivery, IFileDelivery
    {
        public List<(string Kind, string Target, string? RunAs)> Calls { get; } = [];
        public List<EnvelopeRecipient> Recipients { get; } = [];
        public DeliveryOutcome? Next { get; set; }

        public ValueTask<DeliveryOutcome> PipeAsync(string command, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
            CancellationToken cancellationToken) => Record("pipe", command, runAs, recipient);

        public ValueTask<DeliveryOutcome> AppendAsync(string path, UnixAccount? runAs, IQueuedMessage message, EnvelopeRecipient recipient,
            CancellationToken cancellationToken) => Record("file", path, runAs, recipient);

        private ValueTask<DeliveryOutcome> Record(string kind, string target, UnixAccount? runAs, EnvelopeRecipient recipient)
        {
            Calls.Add((kind, target, runAs?.Name));
            Recipients.Add(recipient);
            return ValueTask.FromResult(Next ?? DeliveryOutcome.Delivered(kind + " " + target));
        }
    }

    /// <summary>The spool behind the submitter: keeps every committed envelope and its content.</summary>
    private sealed class RecordingSpool : IMessageSpool
    {
        public List<(SpoolEnvelope Envelope, string Content)> Committed { get; } = [];

        public ValueTask CommitAsync(SpoolEnvelope envelope, ReadOnlySequence<byte> message, CancellationToken cancellationToken)
        {
            Committed.Add((envelope, Encoding.UTF8.GetString(message.ToArray())));
            return ValueTask.CompletedTask;
        }
    }
}
