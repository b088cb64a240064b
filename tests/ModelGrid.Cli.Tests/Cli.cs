using System.Diagnostics;

namespace ModelGrid.Cli.Tests;

/// <summary>The result of one <c>modelgrid</c> process: exit code, raw stdout bytes, stderr text.</summary>
public sealed record CliResult(int ExitCode, byte[] Stdout, string Stderr)
{
    public string StdoutText => System.Text.Encoding.UTF8.GetString(Stdout);
}

/// <summary>Runs the built <c>modelgrid</c> CLI as a separate process, the way a user runs it.</summary>
public static class Cli
{
    static readonly string Assembly = Path.Combine(AppContext.BaseDirectory, "modelgrid.dll");

    public static CliResult RunWithInput(string? stdin, params string[] args) => Run(stdin, new Dictionary<string, string>(), args);

    /// <summary>Runs with <paramref name="environment"/> added to this process's environment.</summary>
    public static CliResult RunWithEnvironment(IReadOnlyDictionary<string, string> environment, params string[] args) => Run(null, environment, args);

    /// <summary>Starts a command that keeps running (<c>serve</c>), with redirected output; the caller stops it.</summary>
    public static Process Start(IReadOnlyDictionary<string, string> environment, params string[] args) => Process.Start(StartInfo(environment, args))!;

    static ProcessStartInfo StartInfo(IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        start.ArgumentList.Add(Assembly);
        foreach (string arg in args)
            start.ArgumentList.Add(arg);
        return start;
    }

    static CliResult Run(string? stdin, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        using var process = Process.Start(StartInfo(environment, args))!;
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"modelgrid {string.Join(' ', args)} did not finish in 2 minutes");
        }
        copy.Wait();
        return new CliResult(process.ExitCode, stdout.ToArray(), stderr.Result);
    }

    public static CliResult Run(params string[] args) => RunWithInput(null, args);
}
