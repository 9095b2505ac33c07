// The `Web` section: the server's own HTTP listener for the console and the health endpoints (src/Mta.Web).
namespace Mta.Engine.Configuration;

/// <summary>
/// The web console and health endpoints, served by Kestrel inside the server process. Off by default: an MTA that
/// nobody asked to speak HTTP opens no HTTP port. When on, it listens on loopback unless the operator names another
/// address, since the console shows senders and recipients.
/// </summary>
public sealed class WebOptions
{
    /// <summary>Serve the console and <c>/healthz</c>, <c>/readyz</c>. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The default of <see cref="Urls"/>.</summary>
    public const string DefaultUrl = "http://127.0.0.1:8089";

    /// <summary>Where Kestrel listens, as <c>http://ADDRESS:PORT</c> URLs (port 0: any free port). Null (the default) means
    /// <see cref="DefaultUrl"/>. Null rather than a list holding the default, because the configuration binder adds a
    /// configured list's items to the list it finds: the default would stay bound beside the operator's URLs.</summary>
    public List<string>? Urls { get; set; }

    /// <summary>The URLs to bind: <see cref="Urls"/> as configured, else <see cref="DefaultUrl"/>.</summary>
    public IReadOnlyList<string> EffectiveUrls => Urls ?? [DefaultUrl];

    /// <summary>Anyone who can reach the console may read it without logging in. Actions (flush, delete, hold) always
    /// need an administrator's login. Default false: reading needs a login as any user of the users file.</summary>
    public bool AnonymousRead { get; set; }

    /// <summary>Users of the users file (<c>Auth:UsersFile</c>) who hold the administrator role in the console and may
    /// act on the queue. Empty by default: nobody may.</summary>
    public List<string> Admins { get; set; } = [];
}
