// Adds a header field to every received message, e.g. "X-Policy: checked by Mta".
//
// Settings (Scripts:Settings:add-header):
//   Name   field name, default "X-Policy"
//   Value  field value, default "checked by Mta"

var name = Settings["Name"] is { Length: > 0 } n ? n : "X-Policy";
var value = Settings["Value"] is { Length: > 0 } v ? v : "checked by Mta";

// A bad name would corrupt every message: refuse to load instead (the old version, if any, keeps running).
if (!Regex.IsMatch(name, "^[!-9;-~]+$")) throw new ArgumentException($"add-header: '{name}' is not a valid header field name");
if (value.Contains('\r') || value.Contains('\n')) throw new ArgumentException("add-header: the value must be one line");

On<DataPostContext>(ctx =>
{
    ctx.Transaction.AddHeader(name, value);
    return HookResult.Continue;
});
