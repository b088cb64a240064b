using System.CommandLine;
using ModelGrid.Cli.Commands;

var root = new RootCommand("ModelGrid: run, serve and host Qwen-family models in pure .NET");
foreach (var command in CommandCatalog.All())
    root.Subcommands.Add(command);
return await root.Parse(args).InvokeAsync();
