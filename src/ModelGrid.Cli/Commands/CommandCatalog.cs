using System.CommandLine;

namespace ModelGrid.Cli.Commands;

/// <summary>Every top-level <c>modelgrid</c> command; each lives in its own file.</summary>
static class CommandCatalog
{
    public static IEnumerable<Command> All() =>
    [
        RunCommand.Create(),
        ChatCommand.Create(),
        InfoCommand.Create(),
        BenchCommand.Create(),
        HubCommand.Create(),
        PushCommand.Create(),
        PullCommand.Create(),
        QuantizeCommand.Create(),
        SynthCommand.Create(),
        ServeCommand.Create(),
    ];
}
