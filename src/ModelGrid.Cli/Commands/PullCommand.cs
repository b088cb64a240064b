using System.CommandLine;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;
using Spectre.Console;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid pull REPO[:FILE|:QUANT]</c>: downloads into the local model cache
/// (<c>$MODELGRID_CACHE</c>, default <c>~/.cache/modelgrid/models/{namespace}/{name}</c>), resuming partial files.
/// </summary>
static class PullCommand
{
    public static string CacheDirectory(RepoName repo) => Path.Combine(
        Environment.GetEnvironmentVariable("MODELGRID_CACHE")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "modelgrid", "models"),
        repo.Namespace, repo.Name);

    public static Command Create()
    {
        var target = new Argument<string>("repo") { Description = "namespace/name, optionally :FILE or :QUANT (e.g. Qwen/Qwen3-0.6B-GGUF:Q8_0)" };
        var revision = new Option<string>("--revision") { Description = "Branch, tag or commit", DefaultValueFactory = _ => RepoService.DefaultBranch };
        var hub = HubConnection.HubOption();
        var token = HubConnection.TokenOption();
        var pull = new Command("pull", "Download a model from a hub into the local cache");
        pull.Arguments.Add(target);
        foreach (var option in new Option[] { revision, hub, token })
            pull.Options.Add(option);
        pull.SetAction(async (parseResult, ct) =>
        {
            var text = parseResult.GetValue(target)!;
            var colon = text.IndexOf(':');
            var name = RepoName.Parse(colon < 0 ? text : text[..colon]);
            var selector = colon < 0 ? null : text[(colon + 1)..];
            var rev = parseResult.GetValue(revision)!;
            var client = HubConnection.Client(parseResult.GetValue(hub)!, parseResult.GetValue(token));
            var files = HubClient.Select(await client.ListFilesAsync(name, rev, ct), selector);
            var cache = CacheDirectory(name);
            await AnsiConsole.Progress().StartAsync(async progress =>
            {
                foreach (var file in files)
                {
                    var task = progress.AddTask(file.Path, maxValue: Math.Max(1, file.Size));
                    var destination = Path.Combine(cache, RepoPath.Validate(file.Path));
                    if (File.Exists(destination) && new FileInfo(destination).Length == file.Size)
                    {
                        task.Value = file.Size;
                        continue;
                    }
                    await client.DownloadFileAsync(name, rev, file, destination, new Progress<TransferProgress>(p => task.Value = p.Done), ct);
                    task.Value = file.Size;
                }
            });
            AnsiConsole.MarkupLineInterpolated($"Pulled {files.Count} file(s) of {name} into [bold]{cache}[/]");
            return 0;
        });
        return pull;
    }
}
