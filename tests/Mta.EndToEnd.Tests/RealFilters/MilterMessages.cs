// Messages the real-milter tests send, built with MimeKit as a mail client builds them.
using MimeKit;

namespace Mta.EndToEnd.Tests.RealFilters;

public static class MilterMessages
{
    /// <summary>A plain-text message with the fields a mail client writes (Date, Message-ID), so that content filters
    /// score it as ordinary mail.</summary>
    public static MimeMessage New(string from, string to, string subject, string body)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = subject;
        message.Date = DateTimeOffset.Now;
        message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(MailboxAddress.Parse(from).Domain);
        message.Body = new TextPart("plain") { Text = body + "\r\n" };
        return message;
    }
}
