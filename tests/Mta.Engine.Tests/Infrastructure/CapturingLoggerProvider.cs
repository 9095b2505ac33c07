// Keeps every log line the engine writes (event id and formatted message) so a test can assert what was logged.
using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Mta.Engine.Tests.Infrastructure;

public sealed record CapturedLogLine(string Category, LogLevel Level, int EventId, string Message);

public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLogLine> _lines = new();

    public IReadOnlyList<CapturedLogLine> Lines => [.. _lines];

    public IReadOnlyList<CapturedLogLine> WithEvent(int eventId) => [.. _lines.Where(l => l.EventId == eventId)];

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(new CapturedLogLine(category, logLevel, eventId.Id, formatter(state, exception)));
    }
}
