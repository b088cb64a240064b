using System.CommandLine;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;
using Spectre.Console;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid pull [modelscope:]REPO[:FILE|:QUANT]</c>: downloads into the local model cache
/// (<c>$MODELGRID_CACHE</c>, default <c>~/.cache/modelgrid/models/{namespace}/{name}</c>): large files in chunks
/// (over more connections while they raise the rate, or <c>--connections N</c>), partial files resumed, every file
/// checked against the hub's SHA-256. The <c>modelscope:</c> prefix, or a
/// <c>--hub</c> on modelscope.cn, speaks ModelScope's API (default hub https://www.modelscope.cn).
/// </summary>
static class PullCommand
{
    const string ModelScopePrefix = "modelscope:";
    const string ModelScopeHub = "https://www.modelscope.cn";

    public static string CacheDirectory(RepoName repo) => Path.Combine(
        Environment.GetEnvironmentVariable("MODELGRID_CACHE")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "modelgrid", "models"),
        repo.Namespace, repo.Name);

    public static Command Create()
    {
        var target = new Argument<string>("repo")
        {
            Description = "[modelscope:]namespace/name, optionally :FILE or :QUANT (e.g. Qwen/Qwen3-0.6B-GGUF:Q8_0)",
        };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (default main; on ModelScope master)" };
        var connections = new Option<int?>("--connections")
        {
            Description = "Connections fetching a large file at once (default: one, more while they raise the rate, at most "
                + $"{FileDownload.MaxConnections})",
        };
        connections.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1)
                result.AddError("--connections must be at least 1");
        });
        var hub = HubConnection.HubOption();
        var token = HubConnection.TokenOption();
        var pull = new Command("pull", "Download a model from a hub into the local cache");
        pull.Arguments.Add(target);
        foreach (var option in new Option[] { revision, connections, hub, token })
            pull.Options.Add(option);
        pull.SetAction(async (parseResult, ct) =>
        {
            var text = parseResult.GetValue(target)!;
            var modelScope = text.StartsWith(ModelScopePrefix, StringComparison.OrdinalIgnoreCase);
            if (modelScope)
                text = text[ModelScopePrefix.Length..];
            var colon = text.IndexOf(':');
            var name = RepoName.Parse(colon < 0 ? text : text[..colon]);
            var selector = colon < 0 ? null : text[(colon + 1)..];
            var hubUrl = modelScope && parseResult.GetResult(hub) is null or { Implicit: true } ? ModelScopeHub : parseResult.GetValue(hub)!;
            var api = modelScope || new Uri(hubUrl).Host.EndsWith("modelscope.cn", StringComparison.OrdinalIgnoreCase) ? HubApi.ModelScope : HubApi.HuggingFace;
            var client = HubConnection.Client(hubUrl, parseResult.GetValue(token), api, parseResult.GetValue(connections));
            var rev = parseResult.GetValue(revision) ?? client.DefaultRevision;
            var files = HubClient.Select(await client.ListFilesAsync(name, rev, ct), selector);
            var cache = CacheDirectory(name);
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async progress =>
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
                        await client.DownloadFileAsync(name, rev, file, destination, new Progress<TransferProgress>(p => task.Value = Math.Max(task.Value, p.Done)), ct);
                        task.Value = file.Size;
                    }
                });
            AnsiConsole.MarkupLineInterpolated($"Pulled {files.Count} file(s) of {name} into [bold]{cache}[/]");
            return 0;
        });
        return pull;
    }
}
