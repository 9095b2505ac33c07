// Assertions on SMTP replies read by an in-memory session client (exact codes, enhanced codes, text).
namespace Mta.Engine.Tests.Infrastructure;

public static class ReplyAssert
{
    /// <summary>Asserts the reply code and, when given, the enhanced status code at the start of the first line and a
    /// piece of the text.</summary>
    public static SmtpTestReply Is(SmtpTestReply reply, int code, string? enhanced = null, string? textContains = null)
    {
        Assert.True(reply.Code == code, $"expected {code} {enhanced}, got: {reply}");
        if (enhanced is not null)
            Assert.True(reply.Lines[0].StartsWith(enhanced + " ", StringComparison.Ordinal) || reply.Lines[0] == enhanced,
                $"expected enhanced code {enhanced}, got: {reply}");
        if (textContains is not null)
            Assert.True(reply.Text.Contains(textContains, StringComparison.Ordinal), $"expected text '{textContains}', got: {reply}");
        return reply;
    }

    /// <summary>Sends EHLO and asserts 250.</summary>
    public static async Task EhloAsync(InMemorySmtpClient c, string name = "client.test") =>
        Is(await c.CommandAsync("EHLO " + name), 250);
}
