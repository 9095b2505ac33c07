// The bytes mta-bench sends, built once: SMTP commands, a per-session header block, a shared body.
using System.Globalization;
using System.Text;

namespace Mta.Bench;

/// <summary>
/// Everything is precomputed so the send path only copies a message number into a
/// small header buffer; the (possibly large) body is one shared array for all sessions.
/// </summary>
internal sealed class MessageTemplate
{
    // Fixed-width message number inside Message-ID/Subject so every message has exactly the same size.
    private const int SeqDigits = 10;
    private const int MaxLine = 78;

    public byte[] Ehlo { get; }
    public byte[] Helo { get; }
    public byte[] Mail { get; }
    public byte[][] Rcpts { get; }
    public static readonly byte[] Data = "DATA\r\n"u8.ToArray();
    public static readonly byte[] Rset = "RSET\r\n"u8.ToArray();
    public static readonly byte[] Quit = "QUIT\r\n"u8.ToArray();
    /// <summary>MAIL + every RCPT + DATA in one buffer, for a single pipelined write.</summary>
    public byte[] Envelope { get; }

    /// <summary>Header block ending with the empty line; sessions copy it and stamp the sequence number.</summary>
    public byte[] Header { get; }
    /// <summary>Offsets of the SeqDigits-wide number fields in <see cref="Header"/>.</summary>
    public int[] SeqOffsets { get; }
    /// <summary>Body lines followed by the end-of-data line ".\r\n".</summary>
    public byte[] BodyAndDot { get; }
    /// <summary>Content size as counted by --size (header + body, without ".\r\n").</summary>
    public int ContentSize => Header.Length + BodyAndDot.Length - 3;

    public MessageTemplate(BenchOptions o)
    {
        Ehlo = Ascii($"EHLO {o.Helo}\r\n");
        Helo = Ascii($"HELO {o.Helo}\r\n");
        Mail = Ascii($"MAIL FROM:<{o.From}>\r\n");
        Rcpts = new byte[o.Rcpts][];
        for (int i = 0; i < o.Rcpts; i++)
            // Distinct recipients when R > 1 (a server may collapse duplicates); same scheme as smtp-source -r.
            Rcpts[i] = Ascii(o.Rcpts == 1 ? $"RCPT TO:<{o.To}>\r\n" : $"RCPT TO:<{i + 1}{o.To}>\r\n");
        Envelope = [.. Mail, .. Rcpts.SelectMany(r => r), .. Data];

        if (o.DataFile != null)
        {
            // A fixed message, every byte as given (a DKIM signature over it must stay valid): no header block to stamp.
            Header = [];
            SeqOffsets = [];
            BodyAndDot = LoadDataFile(o.DataFile);
            return;
        }

        string seq = new('0', SeqDigits);
        string date = DateTime.UtcNow.ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture);
        string toHeader = o.Rcpts == 1 ? o.To : $"1{o.To}";
        string header =
            $"From: Bench Sender <{(o.From.Length > 0 ? o.From : "mailer-daemon@example.test")}>\r\n" +
            $"To: <{toHeader}>\r\n" +
            $"Subject: mta-bench message {seq}\r\n" +
            $"Message-ID: <{seq}.{Environment.ProcessId}.{DateTime.UtcNow.Ticks}@bench.example.test>\r\n" +
            $"Date: {date}\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=us-ascii\r\n" +
            "\r\n";
        Header = Ascii(header);
        var offsets = new List<int>();
        for (int at = header.IndexOf(seq, StringComparison.Ordinal); at >= 0;
             at = header.IndexOf(seq, at + SeqDigits, StringComparison.Ordinal))
            offsets.Add(at);
        SeqOffsets = [.. offsets];

        int bodySize = o.Size - Header.Length;
        if (bodySize < 2)
            throw new ArgumentException($"--size {o.Size} is smaller than the headers ({Header.Length + 2} bytes)");
        BodyAndDot = BuildBody(bodySize);
    }

    /// <summary>Writes the message number (decimal, zero-padded) into a session's copy of the header.</summary>
    public void Stamp(byte[] header, long seq)
    {
        foreach (int off in SeqOffsets)
        {
            long v = seq;
            for (int i = SeqDigits - 1; i >= 0; i--, v /= 10)
                header[off + i] = (byte)('0' + (int)(v % 10));
        }
    }

    private static byte[] Ascii(string s) => Encoding.ASCII.GetBytes(s);

    /// <summary>
    /// The file as SMTP DATA content: bare LF becomes CRLF, a line starting with "." gets another one
    /// (RFC 5321 4.5.2), the last line gets a CRLF if it has none, then ".\r\n".
    /// </summary>
    private static byte[] LoadDataFile(string path)
    {
        byte[] raw;
        try { raw = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--data-file {path}: {e.Message}");
        }
        if (raw.Length == 0) throw new ArgumentException($"--data-file {path} is empty");
        var output = new MemoryStream(raw.Length + raw.Length / 16 + 8);
        bool lineStart = true;
        for (int i = 0; i < raw.Length; i++)
        {
            byte b = raw[i];
            if (lineStart && b == (byte)'.') output.WriteByte((byte)'.');
            if (b == (byte)'\n' && (i == 0 || raw[i - 1] != (byte)'\r')) output.WriteByte((byte)'\r');
            output.WriteByte(b);
            lineStart = b == (byte)'\n';
        }
        if (!lineStart) output.Write("\r\n"u8);
        output.Write(".\r\n"u8);
        return output.ToArray();
    }

    /// <summary>
    /// Exactly <paramref name="size"/> bytes of English-looking lines (at most 78 chars + CRLF),
    /// then ".\r\n". Lines start with a letter, so no dot-stuffing is needed.
    /// </summary>
    private static byte[] BuildBody(int size)
    {
        string[] words =
        [
            "the", "message", "queue", "delivery", "server", "mail", "transfer", "agent", "is", "a",
            "of", "to", "and", "for", "report", "meeting", "tomorrow", "please", "review", "attached",
            "schedule", "thanks", "regards", "budget", "project", "update", "we", "will", "send",
            "results", "next", "week", "about", "status", "network", "customer", "order", "invoice",
            "shipping", "confirmed", "received", "question", "answer", "team", "notes", "draft",
        ];
        var rng = new Random(12345); // fixed seed: identical bodies from run to run
        var sb = new StringBuilder(size + 3);
        var line = new StringBuilder(MaxLine);
        int remaining = size; // bytes still to emit, CRLFs included

        while (remaining > 0)
        {
            // Target length of this line's text; the last line takes exactly what is left.
            int len = remaining - 2 <= MaxLine ? remaining - 2 : 50 + rng.Next(MaxLine - 50 + 1);
            // Never leave a single byte that cannot hold a CRLF.
            if (remaining - (len + 2) == 1) len--;
            line.Clear();
            while (line.Length < len)
            {
                if (line.Length > 0) line.Append(' ');
                line.Append(words[rng.Next(words.Length)]);
            }
            line.Length = len;
            // A cut line must not end with a space (some filters trim trailing blanks).
            if (len > 0 && line[len - 1] == ' ') line[len - 1] = 'x';
            sb.Append(line).Append("\r\n");
            remaining -= len + 2;
        }
        sb.Append(".\r\n");
        return Ascii(sb.ToString());
    }
}
