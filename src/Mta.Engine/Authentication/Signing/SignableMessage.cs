// A MimeKit view of raw message bytes for signing: the parsed header fields with their raw values, and the body as the
// exact original bytes, so what MimeKit hashes is what the receiver canonicalizes.
using MimeKit;

namespace Mta.Engine.Authentication.Signing;

/// <summary>Builds the <see cref="MimeMessage"/> MimeKit's signers work on. The body is never parsed: MimeKit's
/// re-serialization of a parsed MIME tree is not byte-exact for every input (boundary lines with trailing blanks, a
/// missing close delimiter...), and a body hash over anything but the original bytes would not verify.</summary>
internal static class SignableMessage
{
    private static readonly byte[] Crlf = "\r\n"u8.ToArray();

    /// <summary>The message, or null when its header section cannot be parsed (nothing is signed then).</summary>
    public static MimeMessage? Parse(ReadOnlyMemory<byte> raw)
    {
        var (headers, bodyStart) = ParseHeaderSection(raw);
        if (headers is null) return null;
        return Build(headers, new RawBody(headers.Where(IsContentField), bodyStart < raw.Length ? raw[bodyStart..] : ReadOnlyMemory<byte>.Empty));
    }

    /// <summary>The message read through a seekable stream <paramref name="open"/> gives (each call a new one); null when
    /// its header section cannot be parsed or does not end within <paramref name="headerWindow"/> octets.</summary>
    public static MimeMessage? Parse(Func<Stream> open, int headerWindow)
    {
        byte[] head;
        long total;
        using (var stream = open())
        {
            total = stream.Length;
            head = new byte[(int)Math.Min(total, headerWindow)];
            stream.ReadExactly(head);
        }
        var (headers, bodyStart) = ParseHeaderSection(head);
        if (headers is null) return null;
        if (bodyStart == head.Length && head.Length < total) return null; // the header section does not end in the window
        return Build(headers, new RawBody(headers.Where(IsContentField), open, bodyStart));
    }

    private static MimeMessage? Build(HeaderList headers, RawBody body)
    {
        try
        {
            // MimeKit's DKIM and ARC code looks up Content-* fields in the body entity's headers and all others in the message's.
            return new MimeMessage(headers.Where(h => !IsContentField(h))) { Body = body };
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or ParseException)
        {
            // A field MimeKit parses on sight (Content-Type, an address list) that it cannot make sense of.
            return null;
        }
    }

    private static (HeaderList? Headers, int BodyStart) ParseHeaderSection(ReadOnlyMemory<byte> raw)
    {
        var (headerEnd, bodyStart) = SplitHeaderSection(raw.Span);
        HeaderList headers;
        try
        {
            using var stream = new MemoryStream(headerEnd + 4);
            stream.Write(raw.Span[..headerEnd]);
            if (headerEnd > 0 && raw.Span[headerEnd - 1] != (byte)'\n') stream.Write(Crlf);
            stream.Write(Crlf);
            stream.Position = 0;
            headers = HeaderList.Load(ParserOptions.Default.Clone(), stream);
        }
        catch (FormatException)
        {
            return (null, 0);
        }
        return headers.Count == 0 ? (null, 0) : (headers, bodyStart);
    }

    private static bool IsContentField(Header header) => header.Field.StartsWith("Content-", StringComparison.OrdinalIgnoreCase);

    /// <summary>Where the header section ends (just after the last field's line end) and where the body starts (after the
    /// empty line). A message without an empty line is all header section and has an empty body.</summary>
    internal static (int HeaderEnd, int BodyStart) SplitHeaderSection(ReadOnlySpan<byte> raw)
    {
        var lineStart = 0;
        while (lineStart < raw.Length)
        {
            var newline = raw[lineStart..].IndexOf((byte)'\n');
            if (newline < 0) return (raw.Length, raw.Length);
            var lineEnd = lineStart + newline + 1;
            var isEmpty = newline == 0 || (newline == 1 && raw[lineStart] == (byte)'\r');
            if (isEmpty) return (lineStart, lineEnd);
            lineStart = lineEnd;
        }
        return (raw.Length, raw.Length);
    }

    /// <summary>The body: the Content-* fields for MimeKit's header look-ups, and the original bytes for its body hash.</summary>
    private sealed class RawBody : MimeEntity
    {
        private readonly ReadOnlyMemory<byte> _content;
        private readonly Func<Stream>? _open;
        private readonly long _start;

        public RawBody(IEnumerable<Header> contentFields, ReadOnlyMemory<byte> content) : this(contentFields) => _content = content;

        /// <summary>A body read from octet <paramref name="start"/> of the stream <paramref name="open"/> gives, each time.</summary>
        public RawBody(IEnumerable<Header> contentFields, Func<Stream> open, long start) : this(contentFields)
        {
            _open = open;
            _start = start;
        }

        private RawBody(IEnumerable<Header> contentFields) : base(new ContentType("text", "plain"))
        {
            // The base constructor wrote a Content-Type of its own; only the message's own fields may be signed.
            Headers.Clear();
            foreach (var field in contentFields) Headers.Add(field);
        }

        public override void Prepare(EncodingConstraint constraint, int maxLineLength = 78) { }

        public override void WriteTo(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
        {
            if (!contentOnly) Headers.WriteTo(options, stream, cancellationToken);
            if (_open is null)
            {
                stream.Write(_content.Span);
                return;
            }
            using var source = _open();
            source.Position = _start;
            source.CopyTo(stream);
        }

        public override async Task WriteToAsync(FormatOptions options, Stream stream, bool contentOnly, CancellationToken cancellationToken = default)
        {
            if (!contentOnly) await Headers.WriteToAsync(options, stream, cancellationToken);
            if (_open is null)
            {
                await stream.WriteAsync(_content, cancellationToken);
                return;
            }
            await using var source = _open();
            source.Position = _start;
            await source.CopyToAsync(stream, cancellationToken);
        }
    }
}
