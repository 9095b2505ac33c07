// What `mta status` and the web console's overview read of the running server: one snapshot now, and the last hour in 10 s samples.
using System.Text.Json.Serialization;

namespace Mta.Engine.Status;

/// <summary>
/// The running server at a glance, for an operator who asks "is it up, is mail flowing, is anything stuck?" without
/// reading logs. <c>mta status</c> prints <see cref="Snapshot()"/>; the web console draws its overview charts from
/// <see cref="History"/>. Both are cheap enough to call on every request except the queue walk of a snapshot, which is
/// one pass over the queued messages (as qshape reads the queue), never a copy of it.
/// </summary>
public interface IServerStatus
{
    /// <summary>Uptime, listeners, connections, last-minute rates, the queue by state, and the qshape table with the
    /// <see cref="ServerStatus.DefaultTopDomains"/> busiest domains.</summary>
    ServerStatusSnapshot Snapshot();

    /// <summary>The same with the <paramref name="topDomains"/> busiest destination domains in the qshape table (0: the
    /// TOTAL row alone). Implementations that do not rank domains may ignore it.</summary>
    ServerStatusSnapshot Snapshot(int topDomains) => Snapshot();

    /// <summary>One sample per 10 s, at most the last hour, oldest first: those taken within <paramref name="span"/>
    /// before now.</summary>
    IReadOnlyList<ActivitySample> History(TimeSpan span);
}

/// <summary>
/// Ten seconds of activity. The counts are within the 10 s interval ending <paramref name="At"/>; the levels
/// (<paramref name="QueuePending"/>, <paramref name="ConnectionsOpen"/>) are as they were at <paramref name="At"/>.
/// </summary>
/// <param name="At">When the sample was taken (the end of its interval).</param>
/// <param name="Accepted">SMTP transactions accepted (250 after the message).</param>
/// <param name="Rejected">SMTP transactions rejected.</param>
/// <param name="Delivered">Delivery attempts that delivered.</param>
/// <param name="Deferred">Delivery attempts that deferred (temporary failure; the recipient is retried).</param>
/// <param name="Failed">Delivery attempts that failed for good (a DSN goes to the sender).</param>
/// <param name="QueuePending">Recipients without a final outcome.</param>
/// <param name="ConnectionsOpen">SMTP connections open.</param>
public sealed record ActivitySample(DateTimeOffset At, long Accepted, long Rejected, long Delivered, long Deferred, long Failed, long QueuePending, long ConnectionsOpen);

/// <summary>The running server as <c>mta status</c> shows it (and <c>mta status --json</c> prints it).</summary>
/// <param name="At">When the snapshot was taken.</param>
/// <param name="StartedAt">When the server started.</param>
/// <param name="Uptime">Time since <paramref name="StartedAt"/>.</param>
/// <param name="HostName">The server's name (<c>HostName</c>), as in its greeting.</param>
/// <param name="Version">The Mta version running.</param>
/// <param name="Listeners">Each SMTP listener with its bound endpoint.</param>
/// <param name="ConnectionsOpen">SMTP connections open now.</param>
/// <param name="LastMinute">What flowed in the last minute.</param>
/// <param name="Queue">Recipients by state and the oldest message's age.</param>
/// <param name="Shape">The qshape table: destination domains by age.</param>
public sealed record ServerStatusSnapshot(
    DateTimeOffset At,
    DateTimeOffset StartedAt,
    TimeSpan Uptime,
    string HostName,
    string Version,
    IReadOnlyList<ListenerStatus> Listeners,
    long ConnectionsOpen,
    ActivityRates LastMinute,
    QueueStatus Queue,
    QueueShape Shape);

/// <summary>One SMTP listener.</summary>
/// <param name="Name">Its configured name (<c>Listeners:N:Name</c>).</param>
/// <param name="EndPoint">The address and port bound (the real port when the configuration asked for 0); null before it is bound.</param>
/// <param name="Role"><c>smtp</c> or <c>submission</c>.</param>
/// <param name="Tls"><c>none</c>, <c>starttls</c> or <c>implicit</c>.</param>
public sealed record ListenerStatus(string Name, string? EndPoint, string Role, string Tls);

/// <summary>
/// Events per minute over the last minute. Measured from the 10 s samples, so the window is the minute before now to
/// within one sample; a server up for less than a minute shows what it counted since it started, not an extrapolation.
/// </summary>
/// <param name="Connections">SMTP connections accepted.</param>
/// <param name="Accepted">SMTP transactions accepted.</param>
/// <param name="Rejected">SMTP transactions rejected.</param>
/// <param name="Delivered">Delivery attempts that delivered.</param>
/// <param name="Deferred">Delivery attempts that deferred.</param>
/// <param name="Failed">Delivery attempts that failed for good.</param>
/// <param name="Window">The time the counts were taken over (a minute, plus up to one sample interval; less while the
/// server has been up for less).</param>
public sealed record ActivityRates(double Connections, double Accepted, double Rejected, double Delivered, double Deferred, double Failed, TimeSpan Window);

/// <summary>The queue by recipient state, as <c>mta queue list</c> would count it.</summary>
/// <param name="Messages">Messages with a recipient not yet final.</param>
/// <param name="Recipients">Recipients not yet final (the sum of the states).</param>
/// <param name="Ready">Waiting for a delivery worker.</param>
/// <param name="Active">In delivery, or waiting for a slot of their destination.</param>
/// <param name="Deferred">Waiting for their next attempt.</param>
/// <param name="Held">Held by the operator until released.</param>
/// <param name="OldestAge">The oldest queued message's age; null when the queue is empty.</param>
public sealed record QueueStatus(long Messages, long Recipients, long Ready, long Active, long Deferred, long Held, TimeSpan? OldestAge);

/// <summary>
/// The queue's shape as Postfix's qshape prints it: recipients not yet final by destination domain (rows) and by the
/// age of their message (columns). Column <c>i</c> counts ages under <c>BucketMinutes[i]</c> minutes and at least the
/// limit before it; the last column counts everything older than the last limit (qshape's <c>1280+</c>).
/// </summary>
/// <param name="BucketMinutes">The upper limits of the bounded columns, in minutes: 5 10 20 40 80 160 320 640 1280.</param>
/// <param name="Total">The TOTAL row, over every domain (shown or not).</param>
/// <param name="Domains">The busiest domains, most recipients first (ties by name).</param>
/// <param name="DomainCount">How many domains the queue holds, shown or not.</param>
public sealed record QueueShape(IReadOnlyList<int> BucketMinutes, QueueShapeRow Total, IReadOnlyList<QueueShapeRow> Domains, int DomainCount);

/// <summary>One row of the qshape table.</summary>
/// <param name="Domain">The destination domain, lower-case; <c>TOTAL</c> for the total row.</param>
/// <param name="Total">Recipients in the row (qshape's <c>T</c> column).</param>
/// <param name="Buckets">Recipients per age column: one per <see cref="QueueShape.BucketMinutes"/>, then the open-ended one.</param>
public sealed record QueueShapeRow(string Domain, long Total, IReadOnlyList<long> Buckets);

/// <summary>Source-generated (reflection-free) JSON of the status for the control socket; camelCase, nulls omitted.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ServerStatusSnapshot))]
[JsonSerializable(typeof(IReadOnlyList<ActivitySample>))]
public sealed partial class StatusJsonContext : JsonSerializerContext;
