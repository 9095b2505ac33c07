// The users file: verification, dummy hashing for unknown users, reload on change, atomic 0600 rewrites.
using Mta.Engine.Auth;
using Mta.Engine.Configuration;

namespace Mta.Engine.Tests.Auth;

public sealed class UserStoreTests : IDisposable
{
    private readonly TestDirectory _dir = new();

    private MtaOptions Options(string usersFile = "users.db") => new()
    {
        DataDirectory = _dir.Path,
        LocalDomains = ["example.test", "localhost"],
        Auth = new AuthOptions { UsersFile = usersFile, HashIterations = 1000 },
    };

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task An_added_user_verifies_with_its_password_only()
    {
        var store = new UserStore(Options());
        Assert.True(store.Add("alice", "s3cret", []));
        Assert.True(await store.VerifyAsync("alice", "s3cret", default));
        Assert.True(await store.VerifyAsync("ALICE", "s3cret", default)); // user names match case-insensitively
        Assert.False(await store.VerifyAsync("alice", "S3cret", default));
        Assert.False(await store.VerifyAsync("alice", "", default));
    }

    [Fact]
    public void The_file_lives_under_the_data_directory_with_mode_0600_and_no_plain_password()
    {
        var store = new UserStore(Options());
        store.Add("alice", "plain-text-password", ["alice@example.test"]);
        Assert.Equal(Path.Combine(_dir.Path, "users.db"), store.FilePath);
        var text = File.ReadAllText(store.FilePath);
        Assert.DoesNotContain("plain-text-password", text);
        Assert.Matches(@"^alice:\$pbkdf2-sha256\$1000\$[^$:]+\$[^$:]+:alice@example\.test\n$", text);
        if (!OperatingSystem.IsWindows())
            // Root writes it for the data directory's owner and group (0640); anyone else keeps it to themselves.
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | (Environment.UserName == "root" ? UnixFileMode.GroupRead : 0),
                File.GetUnixFileMode(store.FilePath));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
    }

    [Fact]
    public async Task Unknown_users_and_malformed_lines_take_the_dummy_hash_path()
    {
        var store = new UserStore(Options());
        store.Add("alice", "s3cret", []);
        Assert.Equal(0, store.DummyVerifications);
        Assert.False(await store.VerifyAsync("alice", "wrong", default));
        Assert.Equal(0, store.DummyVerifications);  // a known user's wrong password hashes against its own line
        Assert.False(await store.VerifyAsync("mallory", "s3cret", default));
        Assert.Equal(1, store.DummyVerifications);

        File.AppendAllText(store.FilePath, "bob:$pbkdf2-sha256$1000$broken\n");
        Assert.False(await store.VerifyAsync("bob", "anything", default));
        Assert.Equal(2, store.DummyVerifications);
        Assert.True(store.Exists("bob")); // named, so `mta user add bob` does not shadow it
    }

    [Fact]
    public async Task A_tampered_hash_line_is_refused()
    {
        var store = new UserStore(Options());
        store.Add("alice", "s3cret", []);
        var line = File.ReadAllText(store.FilePath).TrimEnd('\n');
        var cut = line.LastIndexOf('$') + 1;
        var derived = Convert.FromBase64String(line[cut..]);
        derived[^1] ^= 0x80;
        File.WriteAllText(store.FilePath, line[..cut] + Convert.ToBase64String(derived) + "\n");
        Assert.False(await store.VerifyAsync("alice", "s3cret", default));

        // Plain text where the hash belongs is malformed, never compared as a password.
        File.WriteAllText(store.FilePath, "alice:s3cret\n");
        Assert.False(await store.VerifyAsync("alice", "s3cret", default));
    }

    [Fact]
    public async Task The_file_is_reread_when_it_changes()
    {
        var writer = new UserStore(Options());
        var reader = new UserStore(Options());
        Assert.Empty(reader.List());
        Assert.False(await reader.VerifyAsync("carol", "pw1", default));

        writer.Add("carol", "pw1", []);
        Assert.True(await reader.VerifyAsync("carol", "pw1", default));

        // An operator's edit in place (same file, new content) is seen too.
        var bump = File.GetLastWriteTimeUtc(reader.FilePath).AddSeconds(2);
        File.WriteAllText(reader.FilePath, $"# edited\ncarol:{PasswordHash.Create("pw2", 1000)}\n");
        File.SetLastWriteTimeUtc(reader.FilePath, bump);
        Assert.False(await reader.VerifyAsync("carol", "pw1", default));
        Assert.True(await reader.VerifyAsync("carol", "pw2", default));

        writer.Remove("carol");
        Assert.False(await reader.VerifyAsync("carol", "pw2", default));
        Assert.False(reader.Exists("carol"));
    }

    [Fact]
    public void Add_refuses_duplicates_and_remove_reports_unknown_users_keeping_comments()
    {
        var store = new UserStore(Options());
        File.WriteAllText(store.FilePath, "# managed by mta user\n\n");
        Assert.True(store.Add("alice", "a", []));
        Assert.False(store.Add("Alice", "b", []));
        Assert.True(store.Add("bob", "b", ["bob@example.test", "b@example.test"]));
        Assert.Equal(["alice", "bob"], store.List().Select(u => u.Name));
        Assert.False(store.Remove("carol"));
        Assert.True(store.Remove("ALICE"));
        Assert.Equal(["bob"], store.List().Select(u => u.Name));
        Assert.StartsWith("# managed by mta user\n\nbob:", File.ReadAllText(store.FilePath));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    [InlineData("a b")]
    [InlineData("a,b")]
    [InlineData("#a")]
    [InlineData("a\nb")]
    public void Bad_user_names_are_refused(string name) =>
        Assert.Throws<ArgumentException>(() => new UserStore(Options()).Add(name, "pw", []));

    [Theory]
    [InlineData("nobody")]
    [InlineData("@example.test")]
    [InlineData("a@")]
    [InlineData("a@b,c@d")]
    [InlineData("a@b:c")]
    public void Bad_addresses_are_refused(string address) =>
        Assert.Throws<ArgumentException>(() => new UserStore(Options()).Add("alice", "pw", [address]));

    [Fact]
    public void Allowed_senders_are_the_listed_addresses_else_the_user_at_each_local_domain()
    {
        var store = new UserStore(Options());
        store.Add("alice", "a", []);
        store.Add("bob", "b", ["bob@example.test", "robert@other.test"]);
        store.Add("carol@example.test", "c", []);
        Assert.Equal(["alice@example.test", "alice@localhost"], store.AllowedSenders("alice"));
        Assert.Equal(["bob@example.test", "robert@other.test"], store.AllowedSenders("BOB"));
        Assert.Equal(["carol@example.test"], store.AllowedSenders("carol@example.test"));
        Assert.Empty(store.AllowedSenders("nobody"));
    }

    [Fact]
    public async Task A_missing_file_means_no_users_and_a_relative_path_resolves_under_the_data_directory()
    {
        var store = new UserStore(Options(Path.Combine("auth", "users")));
        Assert.Equal(Path.Combine(_dir.Path, "auth", "users"), store.FilePath);
        Assert.Empty(store.List());
        Assert.False(await store.VerifyAsync("alice", "x", default));
        Assert.True(store.Add("alice", "x", []));
        Assert.True(await store.VerifyAsync("alice", "x", default));
    }
}
