// `mta reload`: the running server re-reads its configuration (as on SIGHUP) and says what it applied or why it refused.
using System.CommandLine;
using Mta.Configuration;
using Mta.Engine.Control;
using Mta.Engine.Reload;

namespace Mta;

/// <summary>The <c>reload</c> command. Exit codes: 0 reloaded, 1 refused (the old configuration stays), 2 bad usage or
/// configuration, 3 no running server.</summary>
public static class ReloadCommand
{
    private const int Ok = 0, Refused = 1, Usage = 2, NoServer = 3;

    /// <summary>Builds <c>mta reload</c>, sharing the root's <c>--config</c> option (it finds the server's control socket).</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var reload = new Command("reload", "Make the running server re-read its configuration, users file, maps and TLS certificate (as SIGHUP does)") { configOption };
        reload.SetAction(async (parse, cancellationToken) =>
        {
            // The socket is in the data directory the file names. A file the server will refuse still names it: the
            // server then answers with every error (and logs them), as it would for SIGHUP.
            string socketPath;
            try
            {
                socketPath = ConfigLoader.ControlSocketOf(parse.GetValue(configOption)?.FullName);
            }
            catch (ConfigException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return Usage;
            }
            try
            {
                var result = await AskAsync(socketPath, cancellationToken);
                if (!result.Applied)
                {
                    Console.Error.WriteLine($"{result.Source}: reload refused, the server keeps its configuration:");
                    foreach (var error in result.Errors) Console.Error.WriteLine("  " + error);
                    return Refused;
                }
                Console.WriteLine($"{result.Source}: reloaded ({string.Join(", ", result.Reloaded)})");
                if (result.RestartKeys.Count > 0)
                    Console.WriteLine($"changed settings that take effect only after a restart: {string.Join(", ", result.RestartKeys)}");
                return Ok;
            }
            catch (ControlServerUnavailableException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return NoServer;
            }
            catch (ControlException ex)
            {
                Console.Error.WriteLine(ex.Message);
                return Refused;
            }
        });
        return reload;
    }

    /// <summary>Asks the server behind <paramref name="socketPath"/> to reload; its answer.</summary>
    /// <exception cref="ControlServerUnavailableException">No server listens there.</exception>
    /// <exception cref="ControlException">The server refused the request (e.g. the caller may not reload).</exception>
    internal static async Task<ReloadResult> AskAsync(string socketPath, CancellationToken cancellationToken)
    {
        await using var client = await ControlClient.ConnectAsync(socketPath, cancellationToken);
        var response = await client.RequestAsync(ReloadControlCommand.CommandName, null, cancellationToken);
        response.EnsureOk();
        return response.GetResult(ReloadJsonContext.Default.ReloadResult);
    }
}
