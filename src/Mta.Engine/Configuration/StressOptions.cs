// Limits:Stress: the shorter timeouts and lower per-client limits that apply while connection slots run short.
namespace Mta.Engine.Configuration;

/// <summary>
/// Postfix's stress mode (<c>smtpd_timeout = ${stress?10}{300}</c> and friends): while busy connections are at or
/// above <see cref="EnterAt"/> of <c>Limits:MaxConnections</c>, new reads use the shorter timeouts and new connections
/// the lower per-address limit below, so that a flood of slow clients frees its slots quickly and cannot take the last
/// ones. The server leaves stress when busy connections fall to <see cref="LeaveAt"/> (hysteresis); both changes are
/// logged.
/// </summary>
public sealed class StressOptions
{
    /// <summary>Use stress mode at all. Defaults to true, as Postfix does.</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>Fraction of <c>Limits:MaxConnections</c> busy at which stress begins. Defaults to 0.8.</summary>
    public double EnterAt { get; set; } = 0.8;
    /// <summary>Fraction of <c>Limits:MaxConnections</c> busy at or below which stress ends; below <see cref="EnterAt"/>
    /// so that the mode does not flap. Defaults to 0.6.</summary>
    public double LeaveAt { get; set; } = 0.6;
    /// <summary>Wait for a command (and for the TLS handshake and writes) under stress, when shorter than
    /// <c>Limits:CommandTimeout</c>. Defaults to 10 s, Postfix's <c>${stress?10}</c>.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Wait for each block of DATA, BDAT or an AUTH response under stress, when shorter than the usual timeout.
    /// Defaults to 10 s, as Postfix's smtpd_timeout under stress.</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Pause before the greeting under stress, when shorter than <c>Limits:GreetingDelay</c>. Defaults to 2 s,
    /// Postfix's <c>postscreen_greet_wait = ${stress?2}{6}s</c>.</summary>
    public TimeSpan GreetingDelay { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Connections at once from one client address (as <c>Limits:MaxConnectionsPerIp</c> counts them) under
    /// stress, when lower. Defaults to 10: 25 addresses then hold at most 250 of the default 1000 slots.</summary>
    public int MaxConnectionsPerIp { get; set; } = 10;
    /// <summary>Error replies a session may cause under stress, when lower than <c>Limits:MaxErrors</c>. Defaults to 5
    /// (Postfix goes as far as 1).</summary>
    public int MaxErrors { get; set; } = 5;
}
