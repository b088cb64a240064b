using System.Security.Cryptography;
using ModelGrid.Hub;
using ModelGrid.Hub.Client;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Cli.Tests;

/// <summary><c>modelgrid pull</c> run as a process against a hub on loopback.</summary>
public sealed class PullCommandTests : IAsyncLifetime
{
    // Past the parallel-range threshold, and odd, so the ranges do not split evenly.
    static readonly int LargeSize = checked((int)FileDownload.ParallelThreshold + 12_345);
    readonly string _root = Directory.CreateTempSubdirectory("modelgrid-pull-").FullName;
    HubServer _hub = null!;
    readonly byte[] _large = new byte[LargeSize];
    readonly byte[] _config = "{\"model_type\": \"qwen3\"}"u8.ToArray();
    readonly byte[] _nested = RandomNumberGenerator.GetBytes(5000);

    string Cache => Path.Combine(_root, "cache");
    string CachedRepo => Path.Combine(Cache, "alice", "big-GGUF");

    public async Task InitializeAsync()
    {
        new Random(5).NextBytes(_large);
        _hub = await HubServer.StartAsync(new HubOptions { DataDir = Path.Combine(_root, "hub"), Url = "http://127.0.0.1:0" }, CancellationToken.None);
        var token = await _hub.Services.Tokens.CreateAsync("alice", ["alice"], CancellationToken.None);
        var upload = Path.Combine(_root, "upload");
        Directory.CreateDirectory(Path.Combine(upload, "extra"));
        await File.WriteAllBytesAsync(Path.Combine(upload, "big-Q8_0.gguf"), _large);
        await File.WriteAllBytesAsync(Path.Combine(upload, "config.json"), _config);
        await File.WriteAllBytesAsync(Path.Combine(upload, "extra", "notes.bin"), _nested);
        var client = new HubClient(new HttpClient { BaseAddress = new Uri(_hub.Url + "/") }, token);
        var repo = RepoName.Parse("alice/big-GGUF");
        await client.CreateRepoAsync(repo, false, CancellationToken.None);
        await client.PushDirectoryAsync(upload, repo, "upload", "main", null, CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _hub.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    CliResult Pull(params string[] args) =>
        Cli.RunWithEnvironment(new Dictionary<string, string> { ["MODELGRID_CACHE"] = Cache }, ["pull", .. args, "--hub", _hub.Url]);

    [Fact]
    public void Pull_fetches_a_quantization_in_ranges_and_verifies_it()
    {
        var result = Pull("alice/big-GGUF:Q8_0");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(_large, File.ReadAllBytes(Path.Combine(CachedRepo, "big-Q8_0.gguf")));
        Assert.Equal(["big-Q8_0.gguf"], Directory.EnumerateFiles(CachedRepo).Select(Path.GetFileName));
    }

    [Fact]
    public void Pull_with_several_connections_fetches_the_chunks_in_parallel_and_verifies_them()
    {
        var result = Pull("alice/big-GGUF:Q8_0", "--connections", "4");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(_large, File.ReadAllBytes(Path.Combine(CachedRepo, "big-Q8_0.gguf")));
    }

    [Fact]
    public void Pull_rejects_zero_connections_by_name()
    {
        var result = Pull("alice/big-GGUF:Q8_0", "--connections", "0");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--connections", result.Stderr);
        Assert.False(Directory.Exists(Cache));
    }

    [Fact]
    public void An_interrupted_download_resumes_from_its_partial_file()
    {
        Directory.CreateDirectory(CachedRepo);
        var partial = Path.Combine(CachedRepo, "big-Q8_0.gguf.part");
        File.WriteAllBytes(partial, _large[..(LargeSize / 3)]);

        var result = Pull("alice/big-GGUF:big-Q8_0.gguf");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(_large, File.ReadAllBytes(Path.Combine(CachedRepo, "big-Q8_0.gguf")));
        Assert.False(File.Exists(partial));
    }

    [Fact]
    public void A_corrupted_byte_is_a_hash_mismatch_and_leaves_nothing_in_the_cache()
    {
        // The partial file is kept and resumed, not fetched again, so its wrong byte reaches the final check.
        Directory.CreateDirectory(CachedRepo);
        var prefix = _large[..(LargeSize / 2)];
        prefix[1234] ^= 0xff;
        File.WriteAllBytes(Path.Combine(CachedRepo, "big-Q8_0.gguf.part"), prefix);

        var result = Pull("alice/big-GGUF:Q8_0");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("big-Q8_0.gguf: SHA-256", result.Stderr);
        Assert.Contains("does not match", result.Stderr);
        Assert.Empty(Directory.EnumerateFiles(Cache, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void Pull_through_the_modelscope_api_gets_every_file()
    {
        var result = Pull("modelscope:alice/big-GGUF");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(_large, File.ReadAllBytes(Path.Combine(CachedRepo, "big-Q8_0.gguf")));
        Assert.Equal(_config, File.ReadAllBytes(Path.Combine(CachedRepo, "config.json")));
        Assert.Equal(_nested, File.ReadAllBytes(Path.Combine(CachedRepo, "extra", "notes.bin")));
    }

    [Fact]
    public void Pull_names_a_missing_repository_and_file()
    {
        var missingRepo = Pull("alice/nothing-here");
        Assert.Equal(1, missingRepo.ExitCode);
        Assert.Contains("alice/nothing-here", missingRepo.Stderr);

        var missingQuant = Pull("modelscope:alice/big-GGUF:Q2_K");
        Assert.Equal(1, missingQuant.ExitCode);
        Assert.Contains("Q2_K", missingQuant.Stderr);
    }
}
