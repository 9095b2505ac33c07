// A throughput probe for the spool (group commit on this disk); for `mta`/bench tooling, never a timed test.
using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Abstractions;
using Mta.Engine.Configuration;

namespace Mta.Engine.Spool;

/// <summary>The result of <see cref="SpoolBenchmark.RunAsync"/>.</summary>
/// <param name="Commits">Acknowledged commits.</param>
/// <param name="Elapsed">Wall time.</param>
/// <param name="Batches">Write+fsync rounds (commits per round = how well fsyncs were shared).</param>
public readonly record struct SpoolBenchmarkResult(long Commits, TimeSpan Elapsed, long Batches)
{
    public double CommitsPerSecond => Commits / Elapsed.TotalSeconds;
    public double CommitsPerBatch => Batches == 0 ? 0 : (double)Commits / Batches;
    public override string ToString() =>
        $"{Commits} commits in {Elapsed.TotalSeconds:F2} s = {CommitsPerSecond:F0}/s, {CommitsPerBatch:F1} commits per fsync";
}

public static class SpoolBenchmark
{
    /// <summary>
    /// Runs <paramref name="committers"/> concurrent loops, each committing messages of <paramref name="messageSize"/>
    /// octets and awaiting the acknowledgement before the next (as SMTP sessions do), for <paramref name="duration"/>,
    /// against a fresh spool in <paramref name="directory"/> (created, and deleted afterwards).
    /// </summary>
    public static async Task<SpoolBenchmarkResult> RunAsync(string directory, int committers = 20, int messageSize = 1024,
        TimeSpan? duration = null, CancellationToken cancellationToken = default)
    {
        var options = new MtaOptions { DataDirectory = directory };
        var spool = new SegmentSpool(options, new MtaPaths(options), NullLogger<SegmentSpool>.Instance);
        try
        {
            await spool.RecoverAsync(cancellationToken).ConfigureAwait(false);
            var body = new byte[messageSize];
            Array.Fill(body, (byte)'x');
            var message = new ReadOnlySequence<byte>(body);
            var recipients = new[] { new EnvelopeRecipient(new SmtpAddress("bench", "localhost")) };
            var parameters = new Dictionary<string, string?>();
            var until = duration ?? TimeSpan.FromSeconds(5);
            long commits = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, committers).Select(_ => Task.Run(async () =>
            {
                while (clock.Elapsed < until && !cancellationToken.IsCancellationRequested)
                {
                    var envelope = new SpoolEnvelope(QueueIds.Next(), TransactionKind.Mail, TimeProvider.System.GetUtcNow(),
                        new SmtpAddress("sender", "example.org"), parameters, recipients, "127.0.0.1", "bench", null);
                    await spool.CommitAsync(envelope, message, cancellationToken).ConfigureAwait(false);
                    Interlocked.Increment(ref commits);
                }
            }, cancellationToken))).ConfigureAwait(false);
            var elapsed = clock.Elapsed;
            return new SpoolBenchmarkResult(commits, elapsed, spool.Statistics.Batches);
        }
        finally
        {
            await spool.DisposeAsync().ConfigureAwait(false);
            Directory.Delete(directory, recursive: true);
        }
    }
}
