using System.CommandLine;
using ModelGrid.Cli.Commands;

var root = new RootCommand("ModelGrid: run, serve and host Qwen-family models in pure .NET");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (OperationCanceledException)
{
    return 130;
}
catch (Exception error) when (error is IOException or InvalidDataException or ArgumentException or NotSupportedException
    or InvalidOperationException or FormatException or UnauthorizedAccessException or HttpRequestException
    || error.GetType().Namespace?.StartsWith("ModelGrid", StringComparison.Ordinal) == true)
{
    // Bad input (a missing or malformed file, an unsupported architecture, an invalid option) is the user's to fix:
    // say what is wrong, without a stack trace.
    Console.Error.WriteLine($"error: {error.Message}");
    return 1;
}
