using System.Diagnostics;
using Npgsql;

namespace ModelGrid.Hub.Tests;

/// <summary>
/// A PostgreSQL server for the hub's tests and bench: the one named by <c>$MODELGRID_TEST_POSTGRES</c> (a connection
/// string whose user may create databases), or else a throw-away cluster that <c>initdb</c> creates in a temp
/// directory, listening only on a unix socket there, stopped and removed when the process exits.
/// Each caller gets its own empty database.
/// </summary>
public static class PostgresTestCluster
{
    public const string Variable = "MODELGRID_TEST_POSTGRES";
    const string ClusterUser = "modelgrid";
    static readonly Lazy<Task<string>> Admin = new(StartAsync);

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string prefix)
    {
        var admin = await Admin.Value;
        var name = $"{prefix}_{Guid.NewGuid():N}";
        await using var db = new NpgsqlConnection(admin);
        await db.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", db);
        await create.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ToString();
    }

    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var db = new NpgsqlConnection(await Admin.Value);
        await db.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", db);
        await drop.ExecuteNonQueryAsync();
    }

    static async Task<string> StartAsync()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
            return given;
        var bin = FindServerPrograms() ?? throw new InvalidOperationException(
            $"The PostgreSQL store tests need a PostgreSQL server. Install the server programs (initdb, pg_ctl: " +
            $"'apt-get install postgresql' on Debian) and the tests start a throw-away cluster themselves, " +
            $"or set {Variable}=\"Host=...;Port=...;Username=...;Password=...\" to a server whose user may create databases.");
        var dir = Path.Combine(Path.GetTempPath(), "modelgrid-pg-" + Guid.NewGuid().ToString("N")[..12]);
        // initdb and postgres refuse to run as root; there the cluster belongs to the account the packages create.
        var runAs = Environment.UserName == "root" ? "postgres" : null;
        await RunAsync(runAs, Path.Combine(bin, "initdb"),
            ["-D", dir, "-U", ClusterUser, "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C"]);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop(runAs, bin, dir);
        // Durability is pointless for a cluster deleted at exit; without fsync the tests stay fast.
        var serverOptions = $"-k {dir} -c listen_addresses='' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        await RunAsync(runAs, Path.Combine(bin, "pg_ctl"), ["-D", dir, "-l", Path.Combine(dir, "server.log"), "-w", "-o", serverOptions, "start"]);
        return new NpgsqlConnectionStringBuilder { Host = dir, Username = ClusterUser, Database = "postgres" }.ToString();
    }

    static string? FindServerPrograms()
    {
        static bool HasServer(string dir) => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).FirstOrDefault(d => d.Length > 0 && HasServer(d));
        if (onPath is not null || !Directory.Exists("/usr/lib/postgresql"))
            return onPath;
        // Debian and Ubuntu keep the server programs out of PATH, one directory per major version.
        return Directory.GetDirectories("/usr/lib/postgresql")
            .Select(version => (Major: int.TryParse(Path.GetFileName(version), out var major) ? major : 0, Bin: Path.Combine(version, "bin")))
            .Where(v => HasServer(v.Bin))
            .OrderByDescending(v => v.Major)
            .Select(v => v.Bin)
            .FirstOrDefault();
    }

    // runuser lives in sbin, which a non-login root shell may leave out of PATH.
    static string Runuser => new[] { "/usr/sbin/runuser", "/sbin/runuser" }.FirstOrDefault(File.Exists) ?? "runuser";

    static ProcessStartInfo StartInfo(string? runAs, string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(runAs is null ? program : Runuser)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (runAs is not null)
        {
            foreach (var arg in new[] { "-u", runAs, "--", program })
                start.ArgumentList.Add(arg);
        }
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        return start;
    }

    static async Task RunAsync(string? runAs, string program, IReadOnlyList<string> args)
    {
        using var process = Process.Start(StartInfo(runAs, program, args))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', args)} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
    }

    // The test host may be killed soon after it starts exiting, so the stop and the removal run in a shell of
    // their own that outlives it.
    static void Stop(string? runAs, string bin, string dir)
    {
        var start = StartInfo(runAs, "/bin/sh",
            ["-c", "\"$0\" -D \"$1\" -m immediate -w stop >/dev/null 2>&1; rm -rf \"$1\"", Path.Combine(bin, "pg_ctl"), dir]);
        (start.RedirectStandardOutput, start.RedirectStandardError) = (false, false);
        Process.Start(start)!.Dispose();
    }
}
