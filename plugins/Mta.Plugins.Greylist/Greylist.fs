// Greylisting at RCPT on the (client network, reverse-path, recipient) triplet, with its state in a JSON file.
namespace Mta.Plugins.Greylist

open System
open System.Collections.Generic
open System.Globalization
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.Logging
open Mta.Abstractions

/// <summary>The plugin's settings (<c>Plugins:NAME:Settings</c>), with their defaults.</summary>
type GreylistSettings =
    { /// <summary>A retry is accepted this long after the first attempt (<c>DelaySeconds</c>, default 300).</summary>
      Delay: TimeSpan
      /// <summary>A retry later than this after the first attempt starts over (<c>RetryWindowHours</c>, default 48).</summary>
      RetryWindow: TimeSpan
      /// <summary>A passed triplet is let through without delay this long after its last message (<c>AllowDays</c>, default 36).</summary>
      Allow: TimeSpan
      /// <summary>The state file (<c>StateFile</c>, default <c>data/greylist.json</c> under the working directory).</summary>
      StateFile: string
      /// <summary>Where triplets live (<c>Store</c>): <c>File</c> (default, the state file) or <c>State</c> (the plugin's
      /// state store: shared by every node with <c>State:Provider</c> <c>Redis</c>).</summary>
      UseStateStore: bool }

    /// <summary>Reads and validates the settings; a bad value throws, which stops start-up naming the key.</summary>
    static member Read(settings: IConfiguration) =
        let number (key: string) (fallback: float) =
            match settings.[key] with
            | null
            | "" -> fallback
            | text ->
                match Double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture) with
                | true, value when value >= 0.0 && not (Double.IsInfinity value) -> value
                | _ -> invalidArg key (sprintf "Settings:%s must be a non-negative number, not '%s'" key text)
        let settings' =
            { Delay = TimeSpan.FromSeconds(number "DelaySeconds" 300.0)
              RetryWindow = TimeSpan.FromHours(number "RetryWindowHours" 48.0)
              Allow = TimeSpan.FromDays(number "AllowDays" 36.0)
              StateFile =
                match settings.["StateFile"] with
                | null
                | "" -> Path.Combine("data", "greylist.json")
                | path -> path
                |> Path.GetFullPath
              UseStateStore =
                match settings.["Store"] with
                | null
                | "" -> false
                | text when text.Equals("File", StringComparison.OrdinalIgnoreCase) -> false
                | text when text.Equals("State", StringComparison.OrdinalIgnoreCase) -> true
                | text -> invalidArg "Store" (sprintf "Settings:Store must be File or State, not '%s'" text) }
        if settings'.RetryWindow <= settings'.Delay then
            invalidArg "RetryWindowHours" "Settings:RetryWindowHours must be longer than DelaySeconds"
        settings'

/// <summary>One triplet's state as stored in the file.</summary>
[<CLIMutable>]
type GreylistEntry =
    { /// <summary>When the current greylisting period started.</summary>
      FirstSeen: DateTimeOffset
      /// <summary>Set once the triplet has passed: it is let through until then.</summary>
      AllowedUntil: Nullable<DateTimeOffset> }

/// <summary>What the store decided for one attempt.</summary>
type GreylistVerdict =
    /// <summary>Never seen, or seen too long ago: the greylisting period starts now.</summary>
    | FirstSight
    /// <summary>Retried before the delay was over.</summary>
    | TooEarly of remaining: TimeSpan
    /// <summary>Retried in time, or already allowed: let through.</summary>
    | Passed

/// <summary>
/// The triplets, in memory and in a JSON file written atomically (temporary file, then rename) after each change.
/// Thread-safe: sessions call <see cref="Check"/> concurrently.
/// </summary>
type GreylistStore(settings: GreylistSettings, logger: ILogger) =
    let gate = obj ()
    let entries = Dictionary<string, GreylistEntry>(StringComparer.Ordinal)

    let isLive (now: DateTimeOffset) (entry: GreylistEntry) =
        if entry.AllowedUntil.HasValue then entry.AllowedUntil.Value > now
        else now - entry.FirstSeen <= settings.RetryWindow

    let evict now =
        // Dead triplets are dropped on every write, so the file cannot grow without bound.
        let dead = entries |> Seq.filter (fun pair -> not (isLive now pair.Value)) |> Seq.map (fun pair -> pair.Key) |> Seq.toArray
        for key in dead do entries.Remove key |> ignore

    let save () =
        let path = settings.StateFile
        try
            Directory.CreateDirectory(Path.GetDirectoryName path) |> ignore
            let temp = path + ".tmp"
            do
                use stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None)
                JsonSerializer.Serialize(stream, entries)
                // Durable before the rename: a crash leaves the old file or the new one, never half of one.
                stream.Flush(true)
            File.Move(temp, path, true)
        with ex ->
            // Greylisting still works from memory; only a restart would forget what was learnt since.
            logger.LogError(ex, "Greylist state could not be written to {StateFile}", path)

    /// <summary>The number of triplets held.</summary>
    member _.Count = lock gate (fun () -> entries.Count)

    /// <summary>Reads the state file if there is one. A file that cannot be read is logged and ignored:
    /// forgetting triplets only greylists their senders once more.</summary>
    member _.Load(now: DateTimeOffset) =
        lock gate (fun () ->
            entries.Clear()
            let path = settings.StateFile
            if File.Exists path then
                try
                    use stream = File.OpenRead path
                    let loaded = JsonSerializer.Deserialize<Dictionary<string, GreylistEntry>>(stream)
                    if not (isNull loaded) then
                        for pair in loaded do entries.[pair.Key] <- pair.Value
                    evict now
                with ex ->
                    logger.LogWarning(ex, "Greylist state file {StateFile} is unreadable; starting empty", path))

    /// <summary>Records an attempt for <paramref name="key"/> at <paramref name="now"/> and says whether it passes.</summary>
    member _.Check(key: string, now: DateTimeOffset) =
        lock gate (fun () ->
            let start () =
                entries.[key] <- { FirstSeen = now; AllowedUntil = Nullable() }
                evict now
                save ()
                FirstSight
            let allow (entry: GreylistEntry) =
                entries.[key] <- { entry with AllowedUntil = Nullable(now + settings.Allow) }
                save ()
                Passed
            match entries.TryGetValue key with
            | true, entry when entry.AllowedUntil.HasValue && entry.AllowedUntil.Value > now ->
                // Refreshing on every message would rewrite the file per message; once an hour is enough.
                if entry.AllowedUntil.Value - now < settings.Allow - TimeSpan.FromHours 1.0 then allow entry else Passed
            | true, entry when not entry.AllowedUntil.HasValue && now - entry.FirstSeen < settings.Delay ->
                TooEarly(settings.Delay - (now - entry.FirstSeen))
            | true, entry when not entry.AllowedUntil.HasValue && now - entry.FirstSeen <= settings.RetryWindow -> allow entry
            | _ -> start ())

/// <summary>
/// The triplets in the plugin's <see cref="IStateStore"/> (<c>Store</c> = <c>State</c>), one key per triplet with a
/// time to live, so that nodes sharing a Redis state store greylist together: a first attempt on one node and the
/// retry on another pass. The first sighting is a set-if-absent, so of two nodes seeing it at once one starts the
/// period. While the store is unavailable the caller lets mail through (<see cref="StateUnavailableException"/>).
/// </summary>
type SharedGreylistStore(settings: GreylistSettings, state: IStateStore) =
    let keyOf triplet = "triplet:" + triplet

    /// <summary>Records an attempt for <paramref name="key"/> at <paramref name="now"/> and says whether it passes.</summary>
    member _.CheckAsync(key: string, now: DateTimeOffset, cancellationToken: CancellationToken) : Task<GreylistVerdict> =
        task {
            let stored = keyOf key
            let fresh = { FirstSeen = now; AllowedUntil = Nullable() }
            let start () =
                task {
                    do! state.SetAsync(stored, fresh, Nullable settings.RetryWindow, cancellationToken)
                    return FirstSight
                }
            let allow (entry: GreylistEntry) =
                task {
                    do! state.SetAsync(stored, { entry with AllowedUntil = Nullable(now + settings.Allow) }, Nullable settings.Allow, cancellationToken)
                    return Passed
                }
            let! created = state.SetIfAbsentAsync(stored, fresh, Nullable settings.RetryWindow, cancellationToken)
            if created then
                return FirstSight
            else
                let! struct (found, entry) = state.TryGetAsync<GreylistEntry>(stored, cancellationToken)
                if not found then
                    return! start ()
                elif entry.AllowedUntil.HasValue && entry.AllowedUntil.Value > now then
                    // As the file store: refresh the allowance at most once an hour, not per message.
                    if entry.AllowedUntil.Value - now < settings.Allow - TimeSpan.FromHours 1.0 then return! allow entry
                    else return Passed
                elif not entry.AllowedUntil.HasValue && now - entry.FirstSeen < settings.Delay then
                    return TooEarly(settings.Delay - (now - entry.FirstSeen))
                elif not entry.AllowedUntil.HasValue && now - entry.FirstSeen <= settings.RetryWindow then
                    return! allow entry
                else
                    return! start ()
        }

/// <summary>The greylisting plugin's RCPT logic, apart from the plugin entry so it can be driven directly.</summary>
module Greylisting =
    /// <summary>The reply for a greylisted recipient (RFC 3463 4.7.1: delivery not authorized, temporary).</summary>
    let deferred = HookResult.Defer("Greylisted, please try again later", 451, "4.7.1")

    /// <summary>The client's network: its /24 for IPv4, its /64 for IPv6, so a farm of senders retrying from
    /// neighbouring addresses passes once.</summary>
    let networkOf (address: IPAddress) =
        let address = if address.IsIPv4MappedToIPv6 then address.MapToIPv4() else address
        let bytes = address.GetAddressBytes()
        if address.AddressFamily = AddressFamily.InterNetwork then
            sprintf "%d.%d.%d.0/24" bytes.[0] bytes.[1] bytes.[2]
        else
            let prefix = Array.append bytes.[0..7] (Array.zeroCreate 8)
            IPAddress(prefix).ToString() + "/64"

    /// <summary>The triplet's key: network, reverse-path and recipient, case-folded.</summary>
    let keyOf (context: RcptContext) =
        let network = networkOf context.Session.RemoteEndPoint.Address
        let sender = context.Transaction.ReversePath.ToString().ToLowerInvariant()
        let recipient = context.Recipient.Address.ToString().ToLowerInvariant()
        String.Join(" ", network, "<" + sender + ">", "<" + recipient + ">")

    let private answer (logger: ILogger) (key: string) (verdict: GreylistVerdict) =
        match verdict with
        | Passed -> HookResult.Continue
        | FirstSight ->
            logger.LogInformation("Greylisted {Triplet} (first attempt)", key)
            deferred
        | TooEarly remaining ->
            logger.LogInformation("Greylisted {Triplet} (retried {Remaining} too early)", key, remaining)
            deferred

    let private exempt (context: RcptContext) =
        context.Session.IsTrustedClient || not (isNull context.Session.AuthenticatedUser)

    /// <summary>Decides one RCPT: trusted and authenticated clients pass; others are greylisted per triplet.</summary>
    let decide (store: GreylistStore) (time: TimeProvider) (logger: ILogger) (context: RcptContext) =
        if exempt context then
            HookResult.Continue
        else
            let key = keyOf context
            answer logger key (store.Check(key, time.GetUtcNow()))

    /// <summary>Decides one RCPT from the shared store; fails open (lets the recipient through) while the store is
    /// unavailable, since a greylist that cannot remember would defer every message forever.</summary>
    let decideShared (store: SharedGreylistStore) (time: TimeProvider) (logger: ILogger) (context: RcptContext) (cancellationToken: CancellationToken) =
        if exempt context then
            ValueTask<HookResult>(HookResult.Continue)
        else
            let key = keyOf context
            let decision =
                task {
                    try
                        let! verdict = store.CheckAsync(key, time.GetUtcNow(), cancellationToken)
                        return answer logger key verdict
                    with :? StateUnavailableException ->
                        logger.LogDebug("Not greylisted {Triplet}: the state store is unavailable", key)
                        return HookResult.Continue
                }
            ValueTask<HookResult>(decision)

/// <summary>
/// The plugin entry: registers the RCPT handler <c>NAME/rcpt</c>. Time comes from the constructor's
/// <see cref="TimeProvider"/>, else the host's (the context as an <see cref="IServiceProvider"/>), else the system clock.
/// </summary>
type GreylistPlugin(time: TimeProvider) =
    /// <summary>Uses the host's clock.</summary>
    new() = GreylistPlugin(null)

    /// <summary>The store, once registered (for tests and diagnostics).</summary>
    member val Store: GreylistStore = Unchecked.defaultof<GreylistStore> with get, set

    interface IMtaPlugin with
        member this.Register(context: IPluginContext) =
            let settings = GreylistSettings.Read context.Settings
            let clock =
                if not (isNull time) then time
                else
                    match context with
                    | :? IServiceProvider as services ->
                        match services.GetService(typeof<TimeProvider>) with
                        | :? TimeProvider as host -> host
                        | _ -> TimeProvider.System
                    | _ -> TimeProvider.System
            let hook =
                if settings.UseStateStore then
                    let shared = SharedGreylistStore(settings, context.State)
                    context.Logger.LogInformation(
                        "Greylisting: delay {Delay}, retry window {RetryWindow}, allow {Allow}, triplets in the state store",
                        settings.Delay, settings.RetryWindow, settings.Allow)
                    { new IHook<RcptContext> with
                        member _.InvokeAsync(rcpt, cancellationToken) = Greylisting.decideShared shared clock context.Logger rcpt cancellationToken }
                else
                    let store = GreylistStore(settings, context.Logger)
                    store.Load(clock.GetUtcNow())
                    this.Store <- store
                    context.Logger.LogInformation(
                        "Greylisting: delay {Delay}, retry window {RetryWindow}, allow {Allow}, {Count} triplets from {StateFile}",
                        settings.Delay, settings.RetryWindow, settings.Allow, store.Count, settings.StateFile)
                    { new IHook<RcptContext> with
                        member _.InvokeAsync(rcpt, _) = ValueTask<HookResult>(Greylisting.decide store clock context.Logger rcpt) }
            context.Hooks.Register<RcptContext>("rcpt", hook)
