// Pipe transports (mail for some domains handed to a command, as Postfix's pipe(8) in master.cf) and the command time limit.
namespace Mta.Engine.Configuration;

/// <summary>Local delivery to commands (<c>Transports</c>): the named pipe transports and the time a command may run.</summary>
public sealed class TransportOptions
{
    /// <summary>Default for <see cref="CommandTimeLimit"/>: Postfix's <c>command_time_limit</c>.</summary>
    public static readonly TimeSpan DefaultCommandTimeLimit = TimeSpan.FromSeconds(1000);

    /// <summary>How long a command (an alias's <c>|command</c>, or a pipe transport without its own
    /// <see cref="PipeTransportOptions.TimeLimit"/>) may run before its whole process group is killed and the recipient
    /// deferred. Defaults to 1000 s, Postfix's <c>command_time_limit</c>: long enough for a slow filter, short enough
    /// that a hung one does not hold a delivery worker for good.</summary>
    public TimeSpan CommandTimeLimit { get; set; } = DefaultCommandTimeLimit;

    /// <summary>Pipe transports by name: each one's <see cref="PipeTransportOptions.Domains"/> are delivered by running its
    /// <see cref="PipeTransportOptions.Command"/> once per recipient. Defaults to none.</summary>
    public Dictionary<string, PipeTransportOptions> Pipes { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>One pipe transport (<c>Transports:Pipes:NAME</c>).</summary>
public sealed class PipeTransportOptions
{
    /// <summary>The command line, run by <c>/bin/sh -c</c> with the message on standard input and the envelope in the
    /// environment (<c>SENDER</c>, <c>RECIPIENT</c>, ...; see docs/delivery.md). Required.</summary>
    public string Command { get; set; } = "";

    /// <summary>The account the command runs as when the server runs as root. Defaults to <c>nobody</c>, as Postfix's
    /// <c>default_privs</c>: a command should get no rights it was not given. Never root.</summary>
    public string User { get; set; } = "nobody";

    /// <summary>How long the command may run; null (the default) for <see cref="TransportOptions.CommandTimeLimit"/>.</summary>
    public TimeSpan? TimeLimit { get; set; }

    /// <summary>Recipient domains whose mail goes to this transport. They are accepted at RCPT from any client (as a local
    /// domain is: the command is their final destination), every local part. Defaults to none (the transport is reached
    /// only through a route hook choosing <c>Route(RouteKind.Pipe, NAME)</c>).</summary>
    public List<string> Domains { get; set; } = [];
}
