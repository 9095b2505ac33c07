// What the console reads from the engine: the queue, and the status services when the engine has them.
using Microsoft.Extensions.DependencyInjection;
using Mta.Engine.Control;

namespace Mta.Web.Console;

/// <summary>The engine's read side as the pages use it.</summary>
internal sealed class ConsoleSources(IServiceProvider engine)
{
    public IQueueAdministration Queue { get; } = engine.GetRequiredService<IQueueAdministration>();

    /// <summary>One page of the queue matching <paramref name="text"/> and <paramref name="state"/>.</summary>
    public (int Total, IReadOnlyList<QueueEntrySnapshot> Entries) Search(string? text, QueueRecipientState? state, int offset, int limit)
    {
        var matches = Queue.List().Where(m => Matches(m, text, state)).ToArray();
        return (matches.Length, matches.Skip(offset).Take(limit).ToArray());
    }

    private static bool Matches(QueueEntrySnapshot message, string? text, QueueRecipientState? state)
    {
        if (state is { } wanted && !message.Recipients.Any(r => r.State == wanted)) return false;
        if (string.IsNullOrEmpty(text)) return true;
        return message.QueueId.Contains(text, StringComparison.OrdinalIgnoreCase)
            || message.Sender.Contains(text, StringComparison.OrdinalIgnoreCase)
            || message.Recipients.Any(r => r.Address.Contains(text, StringComparison.OrdinalIgnoreCase));
    }
}
