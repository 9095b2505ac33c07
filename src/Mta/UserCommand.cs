// `mta user add|remove|list`: manage the SMTP AUTH users file named by the configuration (Auth:UsersFile).
using System.CommandLine;
using System.Text;
using Mta.Configuration;
using Mta.Engine.Auth;

namespace Mta;

/// <summary>The <c>user</c> command. Exit codes: 0 done, 1 no such user / user exists / file not writable, 2 bad usage.</summary>
public static class UserCommand
{
    private const int Ok = 0, Failed = 1, Usage = 2;

    /// <summary>Builds <c>mta user</c> with its three sub-commands, sharing the root's <c>--config</c> option.</summary>
    public static Command Create(Option<FileInfo?> configOption)
    {
        var addName = NameArgument();
        var addresses = new Option<string[]>("--address", "-a")
        {
            Description = "An envelope sender the user may submit as (repeatable); default: USER@ each local domain",
            AllowMultipleArgumentsPerToken = false,
        };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input instead of prompting" };
        var add = new Command("add", "Add a user with a password (prompted twice without echo, or --password-stdin)") { addName, addresses, passwordStdin, configOption };
        // Usage errors the parser would answer with exit code 1 are checked here so they give 2.
        add.TreatUnmatchedTokensAsErrors = false;
        add.SetAction(parse => Run(parse, configOption, addName, store =>
        {
            var user = parse.GetValue(addName)!;
            var senders = parse.GetValue(addresses) ?? [];
            UserStore.ValidateName(user);
            if (store.Exists(user)) return Fail(Failed, $"user '{user}' already exists in {store.FilePath}");
            var password = parse.GetValue(passwordStdin) ? ReadPasswordFromStdin() : PromptPassword();
            if (password is null) return Usage;
            if (!store.Add(user, password, senders)) return Fail(Failed, $"user '{user}' already exists in {store.FilePath}");
            Console.WriteLine($"added {user} to {store.FilePath}");
            return Ok;
        }));

        var removeName = NameArgument();
        var remove = new Command("remove", "Remove a user") { removeName, configOption };
        remove.TreatUnmatchedTokensAsErrors = false;
        remove.SetAction(parse => Run(parse, configOption, removeName, store =>
        {
            var user = parse.GetValue(removeName)!;
            if (!store.Remove(user)) return Fail(Failed, $"no user '{user}' in {store.FilePath}");
            Console.WriteLine($"removed {user} from {store.FilePath}");
            return Ok;
        }));

        var list = new Command("list", "List users and the senders each may use (never password hashes)") { configOption };
        list.TreatUnmatchedTokensAsErrors = false;
        list.SetAction(parse => Run(parse, configOption, null, store =>
        {
            foreach (var entry in store.List())
            {
                var senders = entry.Addresses.Count > 0
                    ? string.Join(", ", entry.Addresses)
                    : string.Join(", ", store.AllowedSenders(entry.Name)) + " (default)";
                Console.WriteLine($"{entry.Name}\t{senders}");
            }
            return Ok;
        }));

        return new Command("user", "Manage the users that may authenticate (SMTP AUTH)") { add, remove, list };
    }

    private static Argument<string?> NameArgument() =>
        new("USER") { Description = "The AUTH user name", Arity = ArgumentArity.ZeroOrOne };

    private static int Run(ParseResult parse, Option<FileInfo?> configOption, Argument<string?>? name, Func<UserStore, int> action)
    {
        if (parse.UnmatchedTokens.Count > 0)
            return Fail(Usage, $"unexpected argument(s): {string.Join(' ', parse.UnmatchedTokens)}");
        if (name is not null && string.IsNullOrEmpty(parse.GetValue(name)))
            return Fail(Usage, "a USER argument is required");
        try
        {
            var loaded = ConfigLoader.Load(parse.GetValue(configOption)?.FullName);
            return action(new UserStore(loaded.Options));
        }
        catch (ConfigException ex)
        {
            return Fail(Usage, ex.Message);
        }
        catch (ArgumentException ex)
        {
            return Fail(Usage, ex.Message);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail(Failed, ex.Message);
        }
    }

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine(message);
        return code;
    }

    // One line, so `echo "$PW" | mta user add bob --password-stdin` and a here-string both work.
    private static string? ReadPasswordFromStdin()
    {
        var line = Console.In.ReadLine()?.TrimEnd('\r');
        if (string.IsNullOrEmpty(line)) { Console.Error.WriteLine("no password on standard input"); return null; }
        return line;
    }

    private static string? PromptPassword()
    {
        if (Console.IsInputRedirected)
        {
            Console.Error.WriteLine("standard input is not a terminal: use --password-stdin");
            return null;
        }
        var first = ReadHidden("Password: ");
        if (first.Length == 0) { Console.Error.WriteLine("empty password"); return null; }
        var second = ReadHidden("Repeat password: ");
        if (first != second) { Console.Error.WriteLine("the passwords do not match"); return null; }
        return first;
    }

    // ReadKey with intercept, so the password never appears on the terminal.
    private static string ReadHidden(string prompt)
    {
        Console.Error.Write(prompt);
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace) { if (text.Length > 0) text.Length--; continue; }
            if (!char.IsControl(key.KeyChar)) text.Append(key.KeyChar);
        }
        Console.Error.WriteLine();
        return text.ToString();
    }
}
