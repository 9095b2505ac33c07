// Plugin entry: reads the list settings, registers the RCPT, route and EXPN handlers and the "lists" delivery agent.
using Microsoft.Extensions.Logging;
using Mta.Abstractions;

namespace Mta.Plugins.MailingLists;

/// <summary>
/// Mailing lists. A list address is accepted at RCPT (even where unknown local users are refused), routed at
/// delivery to the <see cref="ListExpansionAgent"/>, which queues one new message to the members with the owner as
/// envelope sender. EXPN shows the members only when <c>AllowExpn</c> is true.
/// </summary>
public sealed class MailingListsPlugin : IMtaPlugin
{
    /// <summary>The catalog in use (for tests and diagnostics); set by <see cref="Register"/>.</summary>
    public ListCatalog? Catalog { get; private set; }

    public void Register(IPluginContext context)
    {
        var settings = context.Settings;
        var allowExpn = ReadBool(settings["AllowExpn"], false, "AllowExpn");
        var maxDepth = ReadInt(settings["MaxDepth"], 5, "MaxDepth");
        var catalog = ListCatalog.FromSettings(settings, context.Logger);
        Catalog = catalog;
        var agent = new ListExpansionAgent(catalog, context.Queue, context.Logger, maxDepth);
        context.AddDeliveryAgent(ListExpansionAgent.AgentName, agent);

        var name = context.Name;
        context.Hooks.Register<RcptContext>(name, (ctx, _) =>
            // Accepting here skips the built-in unknown-user check, which knows mailboxes but not lists.
            ValueTask.FromResult(catalog.Find(ctx.Recipient.Address) is null ? HookResult.Continue : HookResult.Accept()));

        context.Hooks.Register<RouteContext>(name, (ctx, _) =>
        {
            if (catalog.Find(ctx.Recipient.Address) is null) return ValueTask.FromResult(HookResult.Continue);
            ctx.RouteTo(new Route(RouteKind.Agent, ListExpansionAgent.AgentName));
            return ValueTask.FromResult(HookResult.Accept());
        });

        // Without AllowExpn the handler is not even registered: the server's default 252 is the answer RFC 5321
        // section 7.3 suggests for sites that do not disclose list membership.
        if (allowExpn)
            context.Hooks.Register<ExpnContext>(name, (ctx, _) => ValueTask.FromResult(Expn(catalog, ctx.Argument)));

        context.Logger.LogInformation("mailing lists: {Count} lists, folder {Directory}, EXPN {Expn}, max depth {Depth}",
            catalog.All().Count, catalog.Directory ?? "(none)", allowExpn ? "allowed" : "off", maxDepth);
    }

    /// <summary>The EXPN answer for <paramref name="argument"/> (a list address or local part); Continue for a non-list.</summary>
    public static HookResult Expn(ListCatalog catalog, string argument)
    {
        var text = argument.Trim();
        if (text.StartsWith('<') && text.EndsWith('>')) text = text[1..^1].Trim();
        MailingList? list;
        if (text.Contains('@'))
        {
            list = Addresses.TryParse(text, null, out var address) ? catalog.Find(address) : null;
        }
        else
        {
            // RFC 5321 section 3.5.1 lets the argument be a bare local part; two lists with it in different domains is
            // the ambiguous case of section 3.5.3.
            var matches = catalog.All().Where(l => l.Address.LocalPart.Equals(text, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count > 1)
                return HookResult.Reject("Ambiguous list name; use one of " + string.Join(", ", matches.Select(m => m.Address.ToPathString())), 553, "5.1.4");
            list = matches.Count == 1 ? matches[0] : null;
        }
        if (list is null) return HookResult.Continue;
        if (list.Members.Count == 0) return HookResult.Accept($"{list.Address.ToPathString()} has no members", 250, "2.1.5");
        return HookResult.Accept(string.Join("\n", list.Members.Select(m => m.ToExpnLine())), 250, "2.1.5");
    }

    private static bool ReadBool(string? text, bool fallback, string key) =>
        string.IsNullOrWhiteSpace(text) ? fallback
        : bool.TryParse(text, out var value) ? value
        : throw new InvalidOperationException($"Settings:{key}: '{text}' is not true or false");

    private static int ReadInt(string? text, int fallback, string key) =>
        string.IsNullOrWhiteSpace(text) ? fallback
        : int.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) && value >= 1 ? value
        : throw new InvalidOperationException($"Settings:{key}: '{text}' is not a whole number of at least 1");
}
