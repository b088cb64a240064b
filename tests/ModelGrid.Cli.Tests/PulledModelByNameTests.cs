using ModelGrid.Engine.Tests;
using ModelGrid.Hub;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Cli.Tests;

/// <summary><c>run</c> and <c>info</c> naming a repository that <c>modelgrid pull</c> fetched from a hub on loopback.</summary>
public sealed class PulledModelByNameTests : IAsyncLifetime
{
    readonly string _root = Directory.CreateTempSubdirectory("modelgrid-byname-").FullName;
    readonly string[] _models = [.. Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order().Where(IsQwen3).Take(2)];
    HubServer _hub = null!;

    string Cache => Path.Combine(_root, "cache");

    static bool IsQwen3(string path)
    {
        using var file = Engine.Gguf.GgufFile.Open(path);
        return file.Architecture == "qwen3";
    }

    public async Task InitializeAsync()
    {
        Assert.Equal(2, _models.Length);
        _hub = await HubServer.StartAsync(new HubOptions { DataDir = Path.Combine(_root, "hub"), Url = "http://127.0.0.1:0" }, CancellationToken.None);
        var token = await _hub.Services.Tokens.CreateAsync("alice", ["alice"], CancellationToken.None);
        var upload = Path.Combine(_root, "upload");
        Directory.CreateDirectory(upload);
        File.Copy(_models[0], Path.Combine(upload, "tiny-first.gguf"));
        File.Copy(_models[1], Path.Combine(upload, "tiny-second.gguf"));
        var client = new Hub.Client.HubClient(new HttpClient { BaseAddress = new Uri(_hub.Url + "/") }, token);
        var repo = RepoName.Parse("alice/tiny-GGUF");
        await client.CreateRepoAsync(repo, false, CancellationToken.None);
        await client.PushDirectoryAsync(upload, repo, "upload", "main", null, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    CliResult Run(params string[] args) => Cli.RunWithEnvironment(new Dictionary<string, string> { ["MODELGRID_CACHE"] = Cache }, args);

    [Fact]
    public void Run_and_info_find_a_pulled_repo_in_the_cache_by_name_and_quantization()
    {
        var pull = Run("pull", "alice/tiny-GGUF", "--hub", _hub.Url);
        Assert.True(pull.ExitCode == 0, pull.Stderr);

        string[] generate = ["-p", "Hello", "-n", "6", "--temp", "0", "--ignore-eos", "-t", "2"];
        var byName = Run(["run", "alice/tiny-GGUF:second", .. generate]);
        var byPath = Run(["run", _models[1], .. generate]);
        Assert.True(byName.ExitCode == 0, byName.Stderr);
        Assert.True(byPath.ExitCode == 0, byPath.Stderr);
        Assert.Equal(byPath.StdoutText, byName.StdoutText);

        var info = Run("info", "alice/tiny-GGUF:first");
        Assert.True(info.ExitCode == 0, info.Stderr);
        Assert.Contains("qwen3", info.StdoutText);

        var ambiguous = Run(["run", "alice/tiny-GGUF", .. generate]);
        Assert.Equal(1, ambiguous.ExitCode);
        Assert.Contains("several GGUF files", ambiguous.Stderr);
    }

    [Fact]
    public async Task Serve_loads_a_pulled_repo_and_answers_to_its_name()
    {
        var pull = Run("pull", "alice/tiny-GGUF:second", "--hub", _hub.Url);
        Assert.True(pull.ExitCode == 0, pull.Stderr);
        var port = FreePort();

        using var serve = Cli.Start(new Dictionary<string, string> { ["MODELGRID_CACHE"] = Cache },
            "serve", "alice/tiny-GGUF:second", "--port", port.ToString(), "--threads", "2", "--parallel", "1");
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
            var lines = new List<string>();
            while (await serve.StandardOutput.ReadLineAsync(timeout.Token) is { } line && !line.StartsWith("ModelGrid serving", StringComparison.Ordinal))
                lines.Add(line);
            Assert.Contains(lines, l => l.StartsWith("alice/tiny-GGUF:second: qwen3", StringComparison.Ordinal));

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var models = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync("v1/models", timeout.Token))!["data"]!.AsArray();
            Assert.Equal(["alice/tiny-GGUF:second"], models.Select(m => (string)m!["id"]!));
        }
        finally
        {
            serve.Kill(entireProcessTree: true);
            await serve.WaitForExitAsync();
        }
    }

    static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public void A_repo_that_was_never_pulled_names_the_pull_to_run()
    {
        var result = Run("info", "alice/not-pulled");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("modelgrid pull alice/not-pulled", result.Stderr);
    }
}
