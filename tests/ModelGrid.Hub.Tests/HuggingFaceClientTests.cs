using System.Diagnostics;

namespace ModelGrid.Hub.Tests;

/// <summary>
/// The real <c>@huggingface/hub</c> npm client against the hub: create, upload, list, download, model info,
/// search and a stale-parent commit. Its packages come from <c>npm ci --prefix tests/ModelGrid.Hub.Tests/js</c>
/// (run by .ci/run).
/// </summary>
public class HuggingFaceClientTests
{
    static string ScriptDir([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "js");

    [Fact]
    public async Task Huggingface_hub_npm_client_uploads_lists_and_downloads()
    {
        var scriptDir = ScriptDir();
        Assert.True(Directory.Exists(Path.Combine(scriptDir, "node_modules", "@huggingface", "hub")),
            $"@huggingface/hub is not installed; run: npm ci --prefix {scriptDir}");
        await using var hub = await TestHub.StartAsync();

        var start = new ProcessStartInfo("node", "hf-client.mjs")
        {
            WorkingDirectory = scriptDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["HUB_URL"] = hub.Server.Url, ["HF_TOKEN"] = hub.AliceToken, ["REPO"] = "acme/js-upload" },
        };
        using var node = Process.Start(start)!;
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await node.WaitForExitAsync(timeout.Token);

        Assert.True(node.ExitCode == 0, $"node exited {node.ExitCode}\n{await stdout}\n{await stderr}");
        Assert.Contains("\"ok\":true", await stdout);
        // The upload is visible to a plain HTTP client too.
        var info = await TestHub.JsonAsync(await hub.Anonymous.GetAsync("api/models/acme/js-upload"));
        Assert.Equal("mit", (string)info["cardData"]!["license"]!);
    }
}
