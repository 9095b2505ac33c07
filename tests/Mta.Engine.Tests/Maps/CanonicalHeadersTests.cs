// Canonical rewriting of header address fields: only changed fields are rewritten, every other octet stays.
using System.Buffers;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Mta.Engine.Configuration;
using Mta.Engine.Maps;

namespace Mta.Engine.Tests.Maps;

public sealed class CanonicalHeadersTests : IDisposable
{
    private readonly TestDirectory _dir = new();
    private readonly CanonicalMaps _maps;

    public CanonicalHeadersTests()
    {
        var options = new MtaOptions { LocalDomains = ["local.test"] };
        var sender = Path.Combine(_dir.Path, "sender");
        var recipient = Path.Combine(_dir.Path, "recipient");
        File.WriteAllText(sender, "alice@local.test  Alice.Smith@example.test\n");
        File.WriteAllText(recipient, "@old.test  @new.test\n");
        options.Canonical.SenderFiles.Add(sender);
        options.Canonical.RecipientFiles.Add(recipient);
        _maps = new CanonicalMaps(options, new MtaPaths(options), NullLogger<CanonicalMaps>.Instance, watch: false);
    }

    public void Dispose()
    {
        _maps.Dispose();
        _dir.Dispose();
    }

    private string? Rewrite(string message)
    {
        var result = CanonicalHeaders.Rewrite(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(message)), _maps);
        if (result is null) return null;
        return Encoding.UTF8.GetString(result.Header) + message[(int)result.ReplacedLength..];
    }

    [Fact]
    public void Address_fields_are_rewritten_and_the_rest_kept_byte_for_byte()
    {
        var message = "Received: from x\r\n\tby y\r\nFrom: \"Alice\" <alice@local.test>\r\nTo: bob@old.test,\r\n carol@other.test\r\nSubject: alice@local.test\r\nX-Odd:  keep   this \r\n\r\nalice@local.test body\r\n";
        var rewritten = Rewrite(message);
        Assert.NotNull(rewritten);
        Assert.Contains("From: Alice <Alice.Smith@example.test>\r\n", rewritten, StringComparison.Ordinal);
        Assert.Contains("bob@new.test", rewritten, StringComparison.Ordinal);
        Assert.Contains("carol@other.test", rewritten, StringComparison.Ordinal);
        Assert.StartsWith("Received: from x\r\n\tby y\r\n", rewritten, StringComparison.Ordinal);
        Assert.Contains("Subject: alice@local.test\r\nX-Odd:  keep   this \r\n\r\nalice@local.test body\r\n", rewritten, StringComparison.Ordinal);
    }

    [Fact]
    public void A_header_without_matching_addresses_is_left_alone()
    {
        Assert.Null(Rewrite("From: someone@else.test\r\nTo: x@y.test\r\n\r\nbody\r\n"));
        Assert.Null(Rewrite("From: alice@local.test")); // no end of header in sight
    }
}
