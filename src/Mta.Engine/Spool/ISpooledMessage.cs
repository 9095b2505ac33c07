// A queued message as the engine's own delivery agents and the DSN sender see it: the public view plus the stored envelope.
using Mta.Abstractions;

namespace Mta.Engine.Spool;

/// <summary>
/// The engine's view of a queued message: what hooks and plugin agents see (<see cref="IQueuedMessage"/>) plus the
/// envelope as stored (BODY, RET, ENVID, SMTPUTF8, the notification kind) and where its record is. Implemented by the
/// queue; read by the SMTP agent and the DSN sender, which therefore need nothing from the queue itself.
/// </summary>
internal interface ISpooledMessage : IQueuedMessage
{
    /// <summary>The envelope as stored in the spool.</summary>
    SpoolEnvelope Envelope { get; }

    /// <summary>Where the record is (for the journal).</summary>
    SpoolLocation Location { get; }
}
