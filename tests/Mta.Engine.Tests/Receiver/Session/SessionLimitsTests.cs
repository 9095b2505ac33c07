// Size and path limits at MAIL and RCPT over in-memory sessions (RFC 5321 4.5.3.1).
using System.Text;
using Mta.Engine.Tests.Infrastructure;

namespace Mta.Engine.Tests.Receiver.Session;

public sealed class SessionLimitsTests
{
    [Fact]
    public async Task Declared_SIZE_over_the_limit_gets_552_at_MAIL()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=20000000"), 552, "5.3.4");
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=10485760"), 250);
    }

    [Fact]
    public async Task Local_part_of_64_is_accepted_and_65_is_refused()
    {
        await using var server = InMemorySmtpServer.Create();
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync($"MAIL FROM:<{new string('s', 65)}@remote.test>"), 501);
        ReplyAssert.Is(await c.CommandAsync($"MAIL FROM:<{new string('s', 64)}@remote.test>"), 250);
        var r = ReplyAssert.Is(await c.CommandAsync($"RCPT TO:<{new string('l', 65)}@example.test>"), 501);
        Assert.StartsWith("5.1.", r.Lines[0]);
        ReplyAssert.Is(await c.CommandAsync($"RCPT TO:<{new string('l', 64)}@example.test>"), 250);
    }

    [Fact]
    public async Task Path_of_256_octets_is_accepted_and_257_is_refused()
    {
        await using var server = InMemorySmtpServer.Create(o => o.Relay.TrustedNetworks = ["127.0.0.0/8"]);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        static string Path(int total)
        {
            // "<" + 64-octet local part + "@" + domain + ">", the domain in labels of at most 63 octets.
            var domainLength = total - 2 - 64 - 1;
            var domain = new string('d', 63) + "." + new string('e', 63) + "." + new string('f', domainLength - 128 - 5) + ".test";
            var p = "<" + new string('l', 64) + "@" + domain + ">";
            Assert.Equal(total, Encoding.ASCII.GetByteCount(p));
            return p;
        }
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:" + Path(257)), 501);
        ReplyAssert.Is(await c.CommandAsync("RCPT TO:" + Path(256)), 250, "2.1.5");
    }

    [Fact]
    public async Task Domain_of_256_octets_is_refused()
    {
        await using var server = InMemorySmtpServer.Create(o => o.Relay.TrustedNetworks = ["127.0.0.0/8"]);
        await using var c = await server.ConnectAsync();
        await ReplyAssert.EhloAsync(c);
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 63), 4)); // 255
        Assert.Equal(255, domain.Length);
        var tooLong = domain + "x";
        ReplyAssert.Is(await c.CommandAsync($"MAIL FROM:<a@{tooLong}>"), 501);
        ReplyAssert.Is(await c.CommandAsync("MAIL FROM:<a@remote.test>"), 250);
        ReplyAssert.Is(await c.CommandAsync($"RCPT TO:<a@{tooLong}>"), 501);
        ReplyAssert.Is(await c.CommandAsync("NOOP"), 250);
    }
}
