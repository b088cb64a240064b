using System.CommandLine;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;
using Spectre.Console;

namespace ModelGrid.Cli.Commands;

/// <summary><c>modelgrid push DIR REPO</c>: uploads a directory as one commit, creating the repository if needed.</summary>
static class PushCommand
{
    public static Command Create()
    {
        var dir = new Argument<DirectoryInfo>("dir") { Description = "Directory to upload" };
        var repo = new Argument<string>("repo") { Description = "Target repository, namespace/name" };
        var message = new Option<string>("--message", "-m") { Description = "Commit message", DefaultValueFactory = _ => "Upload with modelgrid push" };
        var branch = new Option<string>("--branch") { Description = "Branch to commit to", DefaultValueFactory = _ => RepoService.DefaultBranch };
        var isPrivate = new Option<bool>("--private") { Description = "Create the repository as private" };
        var hub = HubConnection.HubOption();
        var token = HubConnection.TokenOption();
        var push = new Command("push", "Upload a model directory to a hub");
        push.Arguments.Add(dir);
        push.Arguments.Add(repo);
        foreach (var option in new Option[] { message, branch, isPrivate, hub, token })
            push.Options.Add(option);
        push.SetAction(async (parseResult, ct) =>
        {
            var name = RepoName.Parse(parseResult.GetValue(repo)!);
            var client = HubConnection.Client(parseResult.GetValue(hub)!, parseResult.GetValue(token));
            await client.CreateRepoAsync(name, parseResult.GetValue(isPrivate), ct);
            var commit = await AnsiConsole.Progress().StartAsync(async progress =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                var reporter = new Progress<TransferProgress>(p =>
                {
                    if (!tasks.TryGetValue(p.Path, out var task))
                        tasks[p.Path] = task = progress.AddTask(p.Path, maxValue: Math.Max(1, p.Total));
                    task.Value = p.Done;
                });
                return await client.PushDirectoryAsync(parseResult.GetValue(dir)!.FullName, name, parseResult.GetValue(message)!,
                    parseResult.GetValue(branch)!, reporter, ct);
            });
            AnsiConsole.MarkupLineInterpolated($"Pushed {name} at commit [bold]{commit}[/]");
            return 0;
        });
        return push;
    }
}
