// Terminal delivery (RFC 821 SEND, SOML, SAML): the `Terminal` section of mta.config.json, every key with its default.
namespace Mta.Engine.Configuration;

/// <summary>
/// Delivery to users' terminals (<c>Terminal</c>): the <c>mta terminal</c> client on the control socket (always there when
/// enabled), the write(1)-style tty sink (<see cref="Tty"/>), and any sinks plugins add.
/// </summary>
public sealed class TerminalOptions
{
    /// <summary>Accept and advertise SEND, SOML and SAML, and let users attach with <c>mta terminal</c>. Defaults to false:
    /// the commands answer 502 and <c>mta terminal</c> is refused.</summary>
    public bool Enabled { get; set; }

    /// <summary>Largest text a terminal shows, in UTF-8 octets (after control characters are stripped); longer text is cut
    /// at a character boundary and ends with a <c>[... N more bytes]</c> note, the note included in the limit.
    /// Defaults to 4096; between 256 and 1048576.</summary>
    public int MaxTextBytes { get; set; } = 4096;

    /// <summary>How long one sink may take to say whether a user is active, or to show a message, before it counts as
    /// "not active" / "not delivered" (and is logged by name). Defaults to 5 s; between 100 ms and 1 minute.</summary>
    public TimeSpan SinkTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The write(1)-style sink that writes to the user's logged-in terminals. Defaults to off.</summary>
    public TtyTerminalOptions Tty { get; set; } = new();

    /// <summary>
    /// Tokens for <c>mta terminal USER --token TOKEN</c>, by mailbox user: for a client whose login name is not the
    /// mailbox user (a service account, a user on another uid). A peer may always attach as its own login name, and
    /// root as anyone, without a token. Each token is at least 16 characters. Defaults to none.
    /// </summary>
    public Dictionary<string, string> Tokens { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}

/// <summary>The tty sink (<c>Terminal:Tty</c>): finds a user's terminals in utmp and writes to those that allow it (<c>mesg y</c>).</summary>
public sealed class TtyTerminalOptions
{
    /// <summary>Write terminal messages to the user's logged-in ttys, as write(1) does. Defaults to false. The server
    /// must be allowed to write to them: usually it runs in group <c>tty</c> (ttys are mode 0620, group tty).</summary>
    public bool Enabled { get; set; }

    /// <summary>The utmp file listing logged-in users (glibc <c>struct utmp</c> records). Defaults to <c>/var/run/utmp</c>.</summary>
    public string UtmpPath { get; set; } = "/var/run/utmp";

    /// <summary>The folder a utmp line (<c>pts/3</c>, <c>tty1</c>) is relative to. Defaults to <c>/dev</c>.</summary>
    public string DevDirectory { get; set; } = "/dev";

    /// <summary>How long writing one message to one tty may take; a tty that does not take it by then (a stuck or
    /// flow-controlled terminal) is skipped. Defaults to 2 s; between 10 ms and 30 s, and below <see cref="TerminalOptions.SinkTimeout"/>.</summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
