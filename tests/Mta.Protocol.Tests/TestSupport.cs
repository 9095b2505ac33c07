// Helpers shared by the protocol tests: multi-segment sequences and short-hand parsing.
using System.Buffers;
using System.Text;

namespace Mta.Protocol.Tests;

internal sealed class Segment : ReadOnlySequenceSegment<byte>
{
    public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public Segment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }
}

internal static class TestSupport
{
    public static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    public static string Text(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);

    public static string Text(in ReadOnlySequence<byte> b) => Encoding.UTF8.GetString(b.ToArray());

    /// <summary>A sequence made of the given chunks, one segment each (empty chunks included).</summary>
    public static ReadOnlySequence<byte> Sequence(params byte[][] chunks)
    {
        if (chunks.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(chunks[0]);
        var last = first;
        for (var i = 1; i < chunks.Length; i++) last = last.Append(chunks[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static ReadOnlySequence<byte> Sequence(params string[] chunks) =>
        Sequence(Array.ConvertAll(chunks, Bytes));

    public static CommandParseResult Parse(string line, bool extended = true, bool utf8 = false) =>
        SmtpCommandParser.Parse(Bytes(line), new ParserOptions(extended, utf8));

    public static T Ok<T>(string line, bool extended = true, bool utf8 = false) where T : SmtpCommand
    {
        var r = Parse(line, extended, utf8);
        Assert.True(r.IsSuccess, $"'{line}' failed: {r.Error}");
        return Assert.IsType<T>(r.Command);
    }

    /// <summary>Asserts the line fails with the code and enhanced code; returns the reply.</summary>
    public static SmtpReply Fails(string line, int code, string enhanced, bool extended = true, bool utf8 = false)
    {
        var r = Parse(line, extended, utf8);
        Assert.False(r.IsSuccess, $"'{line}' parsed as {r.Command}");
        Assert.Equal(CommandParseStatus.Error, r.Status);
        Assert.Equal(code, r.Error.Code);
        Assert.Equal(enhanced, r.Error.EnhancedCode);
        return r.Error;
    }
}
