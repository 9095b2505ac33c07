// Records the server's log lines (warnings and worse, as the test server logs) so a test can read what an operator reads.
using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mta.Scripts.Tests;

/// <summary>One log line: its event id, formatted message and named values.</summary>
public sealed record CapturedLog(int EventId, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Values, Exception? Exception);

public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => _entries.ToArray();

    /// <summary>Adds this capture to a test server's services.</summary>
    public void AddTo(IServiceCollection services) => services.AddSingleton<ILoggerProvider>(this);

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose() { }

    private sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            capture._entries.Enqueue(new CapturedLog(eventId.Id, logLevel, formatter(state, exception), values, exception));
        }
    }
}
