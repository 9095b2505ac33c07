// The closed set of answers a hook handler gives: continue, accept, reject, defer, disconnect.
namespace Mta.Abstractions;

/// <summary>What a hook handler decided.</summary>
public enum HookDecision
{
    /// <summary>No opinion: the next handler runs, and with none left the built-in behaviour applies.</summary>
    Continue,
    /// <summary>Accept now: later handlers and the built-in checks for this event are skipped.</summary>
    Accept,
    /// <summary>Refuse permanently with a 5xx reply.</summary>
    Reject,
    /// <summary>Refuse temporarily with a 4xx reply; the client may try again later.</summary>
    Defer,
    /// <summary>Send the reply (421 unless given) and close the connection.</summary>
    Disconnect,
}

/// <summary>
/// The answer of a hook handler. Handlers run in configured order; the first result that is not
/// <see cref="Continue"/> decides the reply. Create results with the static factory methods.
/// </summary>
public sealed record HookResult
{
    private HookResult(HookDecision decision, int code, string? enhancedCode, string? text)
    {
        Decision = decision;
        Code = code;
        EnhancedCode = enhancedCode;
        Text = text;
    }

    /// <summary>The decision.</summary>
    public HookDecision Decision { get; }

    /// <summary>The three-digit SMTP reply code sent to the client; 0 for <see cref="Continue"/>,
    /// and 0 for <see cref="Accept()"/> without a code, meaning the command's usual success reply.</summary>
    public int Code { get; }

    /// <summary>The RFC 3463 enhanced status code such as <c>5.7.1</c>, or null to let the server choose.</summary>
    public string? EnhancedCode { get; }

    /// <summary>The reply text, or null for the command's usual text.</summary>
    public string? Text { get; }

    /// <summary>No opinion; let the next handler or the built-in behaviour decide.</summary>
    public static HookResult Continue { get; } = new(HookDecision.Continue, 0, null, null);

    /// <summary>Accept with the command's usual success reply.</summary>
    public static HookResult Accept() => AcceptResult;

    /// <summary>Accept with a specific 2xx reply text (and optionally code, e.g. 251 or 252).</summary>
    /// <param name="text">Reply text.</param>
    /// <param name="code">A 2xx reply code; 0 means the command's usual one.</param>
    /// <param name="enhancedCode">Optional enhanced status code such as <c>2.1.5</c>.</param>
    public static HookResult Accept(string text, int code = 0, string? enhancedCode = null)
    {
        if (code != 0) RequireClass(code, 2, nameof(code));
        return new(HookDecision.Accept, code, enhancedCode, text);
    }

    /// <summary>Refuse permanently. Code must be 5xx (default 550).</summary>
    public static HookResult Reject(string text, int code = 550, string? enhancedCode = null)
    {
        RequireClass(code, 5, nameof(code));
        return new(HookDecision.Reject, code, enhancedCode, text);
    }

    /// <summary>Refuse temporarily. Code must be 4xx (default 451).</summary>
    public static HookResult Defer(string text, int code = 451, string? enhancedCode = null)
    {
        RequireClass(code, 4, nameof(code));
        return new(HookDecision.Defer, code, enhancedCode, text);
    }

    /// <summary>Reply and close the connection. Code must be 4xx or 5xx (default 421).</summary>
    public static HookResult Disconnect(string text, int code = 421, string? enhancedCode = null)
    {
        if (code is < 400 or > 599) throw new ArgumentOutOfRangeException(nameof(code), code, "A disconnect reply must be 4xx or 5xx.");
        return new(HookDecision.Disconnect, code, enhancedCode, text);
    }

    private static readonly HookResult AcceptResult = new(HookDecision.Accept, 0, null, null);

    private static void RequireClass(int code, int expectedClass, string name)
    {
        if (code / 100 != expectedClass || code % 100 > 59 || code < 100)
            throw new ArgumentOutOfRangeException(name, code, $"Reply code must be {expectedClass}xx.");
    }

    /// <inheritdoc />
    public override string ToString() => Decision == HookDecision.Continue ? "Continue" : $"{Decision} {Code} {EnhancedCode} {Text}".Trim();
}
