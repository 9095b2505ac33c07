// What a plugin gets from the host, without a host: settings from a dictionary, a recording registrar, queue and DNS.
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Extensibility.State;

namespace Mta.Testing;

/// <summary>
/// An <see cref="IPluginContext"/> for calling a plugin's <see cref="IMtaPlugin.Register"/> in a unit test: its handlers
/// land in <see cref="Recorder"/>, messages it submits in <see cref="Submitted"/>, and DNS answers come from
/// <see cref="Dns"/>'s tables.
/// </summary>
public sealed class FakePluginContext : IPluginContext
{
    /// <summary>A context whose <see cref="Settings"/> hold <paramref name="settings"/> (keys as in
    /// <c>Plugins:NAME:Settings</c>, nested with <c>:</c>).</summary>
    public FakePluginContext(IDictionary<string, string?>? settings = null)
    {
        Settings = new ConfigurationBuilder().AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();
    }

    /// <inheritdoc/>
    public string Name { get; init; } = "test";

    /// <inheritdoc/>
    public string Directory { get; init; } = AppContext.BaseDirectory;

    /// <inheritdoc/>
    public IConfiguration Settings { get; }

    /// <summary>The handlers the plugin registered; call them with hand-built contexts.</summary>
    public HookRecorder Recorder { get; } = new();

    /// <inheritdoc/>
    public IHookRegistrar Hooks => Recorder;

    /// <inheritdoc/>
    public IStateStore State { get; } = new MemoryStateStore();

    /// <inheritdoc/>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>The messages the plugin submitted, in order.</summary>
    public RecordingSubmitter Submitted { get; } = new();

    /// <inheritdoc/>
    public IMessageSubmitter Queue => Submitted;

    /// <summary>The DNS the plugin sees: empty tables (every name NXDOMAIN) until the test fills them.</summary>
    public FakeDnsResolver Dns { get; } = new();

    IDnsResolver IPluginContext.Dns => Dns;

    /// <summary>The delivery agents the plugin added, by name.</summary>
    public Dictionary<string, IDeliveryAgent> DeliveryAgents { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The terminal sinks the plugin added.</summary>
    public List<ITerminalSink> TerminalSinks { get; } = [];

    /// <inheritdoc/>
    public void AddDeliveryAgent(string name, IDeliveryAgent agent) => DeliveryAgents[name] = agent;

    /// <inheritdoc/>
    public void AddTerminalSink(ITerminalSink sink) => TerminalSinks.Add(sink);
}

/// <summary>One message a plugin put into the queue through a <see cref="RecordingSubmitter"/>.</summary>
/// <param name="ReversePath">The envelope sender.</param>
/// <param name="Recipients">The envelope recipients.</param>
/// <param name="Message">The message as given.</param>
/// <param name="Options">The submission options.</param>
public sealed record SubmittedMessage(SmtpAddress ReversePath, IReadOnlyList<EnvelopeRecipient> Recipients, ReadOnlyMemory<byte> Message, SubmitOptions Options);

/// <summary>An <see cref="IMessageSubmitter"/> that keeps what it is given instead of queueing it.</summary>
public sealed class RecordingSubmitter : IMessageSubmitter
{
    private readonly List<SubmittedMessage> _messages = [];

    /// <summary>The messages submitted, in order.</summary>
    public IReadOnlyList<SubmittedMessage> Messages => _messages;

    /// <inheritdoc/>
    public ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        CancellationToken cancellationToken) => SubmitAsync(reversePath, recipients, message, SubmitOptions.Default, cancellationToken);

    /// <inheritdoc/>
    public ValueTask<string> SubmitAsync(SmtpAddress reversePath, IReadOnlyList<EnvelopeRecipient> recipients, ReadOnlyMemory<byte> message,
        SubmitOptions options, CancellationToken cancellationToken)
    {
        _messages.Add(new SubmittedMessage(reversePath, recipients, message.ToArray(), options));
        return ValueTask.FromResult($"TEST{_messages.Count:D4}");
    }
}

/// <summary>An <see cref="IDnsResolver"/> answering from tables the test fills; a name not in a table is NXDOMAIN.</summary>
public sealed class FakeDnsResolver : IDnsResolver
{
    /// <summary>TXT records by name.</summary>
    public Dictionary<string, List<string>> Txt { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A and AAAA records by name.</summary>
    public Dictionary<string, List<IPAddress>> Addresses { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>MX records by name.</summary>
    public Dictionary<string, List<MxHost>> Mx { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>PTR names by address.</summary>
    public Dictionary<IPAddress, List<string>> Ptr { get; } = [];

    /// <summary>Names answered with a temporary failure (SERVFAIL), whatever the tables hold.</summary>
    public HashSet<string> Failing { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc/>
    public ValueTask<DnsAnswer<string>> GetTxtAsync(string name, CancellationToken cancellationToken) => Answer(Txt, name);

    /// <inheritdoc/>
    public ValueTask<DnsAnswer<IPAddress>> GetAddressesAsync(string name, AddressFamily family, CancellationToken cancellationToken)
    {
        if (Failing.Contains(name)) return ValueTask.FromResult(DnsAnswer<IPAddress>.Failed($"{name}: SERVFAIL"));
        return ValueTask.FromResult(Addresses.TryGetValue(name, out var all)
            ? DnsAnswer<IPAddress>.Found(all.Where(a => a.AddressFamily == family).ToList())
            : DnsAnswer<IPAddress>.NotFound($"{name}: NXDOMAIN"));
    }

    /// <inheritdoc/>
    public ValueTask<DnsAnswer<MxHost>> GetMxAsync(string name, CancellationToken cancellationToken) => Answer(Mx, name);

    /// <inheritdoc/>
    public ValueTask<DnsAnswer<string>> GetPtrAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        return ValueTask.FromResult(Ptr.TryGetValue(address, out var names)
            ? DnsAnswer<string>.Found(names)
            : DnsAnswer<string>.NotFound($"{address}: NXDOMAIN"));
    }

    private ValueTask<DnsAnswer<T>> Answer<T>(Dictionary<string, List<T>> table, string name)
    {
        if (Failing.Contains(name)) return ValueTask.FromResult(DnsAnswer<T>.Failed($"{name}: SERVFAIL"));
        return ValueTask.FromResult(table.TryGetValue(name, out var records)
            ? DnsAnswer<T>.Found(records)
            : DnsAnswer<T>.NotFound($"{name}: NXDOMAIN"));
    }
}

/// <summary>An <see cref="IMessageContent"/> over a message given as text (LF line endings become CRLF) or bytes.</summary>
public sealed class FakeMessage : IMessageContent
{
    private readonly byte[] _bytes;
    private MimeKit.MimeMessage? _parsed;

    /// <summary>A message from its raw bytes, taken as they are.</summary>
    public FakeMessage(byte[] bytes) => _bytes = bytes;

    /// <summary>A message from text: header, blank line, body.</summary>
    public FakeMessage(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        _bytes = System.Text.Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n"));
    }

    /// <inheritdoc/>
    public long Size => _bytes.Length;

    /// <inheritdoc/>
    public Stream OpenRead() => new MemoryStream(_bytes, writable: false);

    /// <inheritdoc/>
    public async ValueTask<MimeKit.MimeMessage> GetMimeMessageAsync(CancellationToken cancellationToken = default)
    {
        if (_parsed is not null) return _parsed;
        using var stream = OpenRead();
        return _parsed = await MimeKit.MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
    }
}
