using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Tests;

/// <summary>The <see cref="IHubStore"/> contract, held by every store alike.</summary>
public class HubStoreTests
{
    static readonly CancellationToken None = CancellationToken.None;
    static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    static CommitRecord Commit(char id, string? parent, string title = "commit") => new(new string(id, 40), parent, title, "", "alice", Now);

    static async Task<RepoRecord> CreateAsync(IHubStore store, string name, ModelMetadata? metadata = null, bool isPrivate = false)
    {
        var root = Commit('0', null, "initial");
        Assert.True(await store.TryCreateRepoAsync(RepoName.Parse(name), isPrivate, "main", root, None));
        var repo = (await store.FindRepoAsync(RepoName.Parse(name), None))!;
        if (metadata is not null)
            Assert.True(await store.TryCommitAsync(repo.Id, "main", root.Id, Commit('1', root.Id), [], metadata, None));
        return (await store.FindRepoAsync(RepoName.Parse(name), None))!;
    }

    static ModelMetadata Derived(string baseModel, string relation, params string[] tags) => new()
    {
        BaseModels = [new BaseModelLink(baseModel, relation)],
        Tags = [.. tags, $"base_model:{baseModel}", $"base_model:{relation}:{baseModel}"],
    };

    [Theory, ClassData(typeof(AllStores))]
    public async Task Branch_moves_only_from_the_expected_head_and_a_loser_writes_nothing(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        var name = RepoName.Parse("alice/cas");
        var root = Commit('a', null, "initial");
        Assert.True(await store.TryCreateRepoAsync(name, false, "main", root, None));
        var repo = (await store.FindRepoAsync(name, None))!;
        var winner = Commit('b', root.Id, "winner");
        var loser = Commit('c', root.Id, "loser");
        FileEntry[] files = [new("w.bin", new string('d', 64), 1)];

        Assert.True(await store.TryCommitAsync(repo.Id, "main", root.Id, winner, files, null, None));
        Assert.False(await store.TryCommitAsync(repo.Id, "main", root.Id, loser, files, null, None));

        Assert.Equal(winner.Id, (await store.FindRepoAsync(name, None))!.MainCommitId);
        Assert.Null(await store.FindCommitAsync(repo.Id, loser.Id, None));
        Assert.Empty(await store.ListFilesAsync(repo.Id, loser.Id, None));
        Assert.Equal(files, await store.ListFilesAsync(repo.Id, winner.Id, None));
        Assert.Equal([winner.Id, root.Id], (await store.ListHistoryAsync(repo.Id, winner.Id, 10, None)).Select(c => c.Id));
        Assert.False(await store.TryCreateRepoAsync(name, false, "main", root, None));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Of_many_simultaneous_commits_on_one_head_exactly_one_lands(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        var repo = await CreateAsync(store, "alice/race");
        var racers = "abcdefgh".Select(id => Commit(id, repo.MainCommitId, $"racer {id}")).ToList();

        var results = await Task.WhenAll(racers.Select(c => Task.Run(() =>
            store.TryCommitAsync(repo.Id, "main", repo.MainCommitId!, c, [new($"{c.Title}.txt", new string('e', 64), 1)], null, None))));

        var winner = racers[Array.IndexOf(results, true)];
        Assert.Single(results, landed => landed);
        Assert.Equal(winner.Id, (await store.FindRepoAsync(repo.Name, None))!.MainCommitId);
        Assert.Equal([$"{winner.Title}.txt"], (await store.ListFilesAsync(repo.Id, winner.Id, None)).Select(f => f.Path));
        foreach (var loser in racers.Where(c => c != winner))
            Assert.Null(await store.FindCommitAsync(repo.Id, loser.Id, None));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Names_namespaces_tags_and_base_models_match_whatever_their_case(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        await CreateAsync(store, "Qwen/Qwen3-0.6B", new ModelMetadata { Tags = ["Text-Generation"] });
        await CreateAsync(store, "alice/Tuned", Derived("Qwen/Qwen3-0.6B", "finetune"));
        await CreateAsync(store, "bob/tuned-gguf", Derived("ALICE/tuned", "quantized"));

        Assert.Equal("Qwen/Qwen3-0.6B", (await store.FindRepoAsync(RepoName.Parse("qwen/qwen3-0.6b"), None))!.Name.ToString());
        Assert.False(await store.TryCreateRepoAsync(RepoName.Parse("QWEN/qwen3-0.6b"), false, "main", Commit('9', null), None));
        Assert.Equal(["Qwen/Qwen3-0.6B"], (await store.SearchAsync(new ModelQuery { Author = "QWEN" }, None)).Select(r => r.Name.ToString()));
        Assert.Equal(["Qwen/Qwen3-0.6B"], (await store.SearchAsync(new ModelQuery { Tags = ["text-generation"] }, None)).Select(r => r.Name.ToString()));
        Assert.Equal(["alice/Tuned", "bob/tuned-gguf"], (await store.SearchAsync(new ModelQuery { Search = "TUNED", Sort = ModelSort.Id, Descending = false }, None)).Select(r => r.Name.ToString()));
        Assert.Equal(["alice/Tuned"], (await store.SearchAsync(new ModelQuery { Tags = ["BASE_MODEL:finetune:qwen/qwen3-0.6b"] }, None)).Select(r => r.Name.ToString()));

        Assert.Equal([new LineageEdge("alice/Tuned", "finetune", 1, "Qwen/Qwen3-0.6B"), new LineageEdge("bob/tuned-gguf", "quantized", 2, "ALICE/tuned")],
            await store.DescendantsAsync("qwen/QWEN3-0.6b", new LineagePage(10, 100, 0), [], None));
        Assert.Equal([new LineageEdge("ALICE/tuned", "quantized", 1, "bob/tuned-gguf"), new LineageEdge("Qwen/Qwen3-0.6B", "finetune", 2, "alice/Tuned")],
            await store.AncestorsAsync("BOB/Tuned-GGUF", new LineagePage(10, 100, 0), None));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Lineage_reports_each_model_once_at_its_nearest_depth_and_stops_at_the_depth_limit(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        await CreateAsync(store, "acme/base");
        await CreateAsync(store, "acme/tune", Derived("acme/base", "finetune"));
        await CreateAsync(store, "acme/tune2", Derived("acme/tune", "finetune"));
        // Reached directly (depth 1) and through acme/tune2 (depth 3).
        await CreateAsync(store, "acme/merged", new ModelMetadata { BaseModels = [new("acme/base", "merge"), new("acme/tune2", "merge")] });
        await CreateAsync(store, "acme/secret", Derived("acme/tune", "adapter"), isPrivate: true);

        Assert.Equal([("acme/merged", 1), ("acme/tune", 1), ("acme/tune2", 2)],
            (await store.DescendantsAsync("acme/base", new LineagePage(10, 100, 0), [], None)).Select(e => (e.Model, e.Depth)));
        Assert.Equal([("acme/merged", 1), ("acme/tune", 1), ("acme/secret", 2), ("acme/tune2", 2)],
            (await store.DescendantsAsync("acme/base", new LineagePage(10, 100, 0), ["acme"], None)).Select(e => (e.Model, e.Depth)));
        Assert.Equal(["acme/merged", "acme/tune"], (await store.DescendantsAsync("acme/base", new LineagePage(1, 100, 0), [], None)).Select(e => e.Model));
        Assert.Equal([("acme/base", 1), ("acme/tune2", 1), ("acme/tune", 2)],
            (await store.AncestorsAsync("acme/merged", new LineagePage(10, 100, 0), None)).Select(e => (e.Model, e.Depth)));
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Simultaneous_likes_all_count_and_a_repeated_like_counts_once(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        var repo = await CreateAsync(store, "alice/liked");
        var users = Enumerable.Range(0, 12).Select(i => $"user{i}").ToList();

        await Task.WhenAll(users.Select(user => Task.Run(() => store.SetLikeAsync(repo.Id, user, true, None))));
        Assert.Equal(users.Count, await store.SetLikeAsync(repo.Id, users[0], true, None));
        Assert.Equal(users.Count - 1, await store.SetLikeAsync(repo.Id, users[1], false, None));
        Assert.Equal(users.Count - 1, await store.SetLikeAsync(repo.Id, users[1], false, None));
        Assert.Equal(users.Count - 1, (await store.FindRepoAsync(repo.Name, None))!.Likes);
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Search_sorts_pages_and_puts_unknown_values_last_when_descending(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        await CreateAsync(store, "acme/small", new ModelMetadata { ParameterCount = 10 });
        await CreateAsync(store, "acme/unknown", new ModelMetadata());
        await CreateAsync(store, "acme/large", new ModelMetadata { ParameterCount = 1000 });
        var popular = await CreateAsync(store, "acme/popular", new ModelMetadata { ParameterCount = 100 });
        await CreateAsync(store, "acme/hidden", new ModelMetadata { ParameterCount = 5000 }, isPrivate: true);
        foreach (var _ in Enumerable.Range(0, 3))
            await store.AddDownloadAsync(popular.Id, None);

        async Task<List<string>> Names(ModelQuery query) => [.. (await store.SearchAsync(query, None)).Select(r => r.Name.Name)];
        Assert.Equal(["large", "popular", "small", "unknown"], await Names(new ModelQuery { Sort = ModelSort.Parameters }));
        Assert.Equal(["unknown", "small", "popular", "large"], await Names(new ModelQuery { Sort = ModelSort.Parameters, Descending = false }));
        Assert.Equal(["hidden", "large"], await Names(new ModelQuery { Sort = ModelSort.Parameters, Limit = 2, VisibleNamespaces = ["ACME"] }));
        Assert.Equal(["popular", "small"], await Names(new ModelQuery { Sort = ModelSort.Parameters, Limit = 2, Offset = 1 }));
        Assert.Equal("popular", (await Names(new ModelQuery { Sort = ModelSort.Downloads }))[0]);
        Assert.Equal(3, (await store.FindRepoAsync(popular.Name, None))!.Downloads);
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Every_search_plan_pages_as_filtering_and_sorting_everything_would(HubStoreKind kind)
    {
        // Thresholds scaled down with the catalog, so that small candidate sets, walks of the sort index that fill the
        // page, walks that do not, and intersections all occur.
        var plan = new SearchPlan(SmallCandidateSet: 10, WalkLimit: 20);
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync(plan);
        var catalog = new List<(string Name, string[] Tags, DateTimeOffset Modified)>();
        for (var i = 0; i < 60; i++)
        {
            var name = $"org{i % 4}/model-{i:D2}-{(i % 2 == 0 ? "gguf" : "st")}";
            // Two large tags overlapping in three models, and a rare one.
            var tags = new[] { i < 33 ? "left" : null, i >= 30 ? "right" : null, i % 20 == 5 ? "rare" : null }.OfType<string>().ToArray();
            // Distinct times in an order unrelated to creation.
            var modified = Now.AddMinutes(i * 37 % 61);
            var root = Commit('0', null, "initial");
            Assert.True(await store.TryCreateRepoAsync(RepoName.Parse(name), false, "main", root, None));
            var repo = (await store.FindRepoAsync(RepoName.Parse(name), None))!;
            Assert.True(await store.TryCommitAsync(repo.Id, "main", root.Id, new CommitRecord(new string('1', 40), root.Id, "tags", "", "alice", modified),
                [], new ModelMetadata { Tags = tags }, None));
            catalog.Add((name, tags, modified));
        }

        ModelQuery[] queries =
        [
            new() { Tags = ["rare"] },
            new() { Tags = ["left"] },
            new() { Tags = ["left"], Offset = 25 },
            new() { Tags = ["left", "right"] },
            new() { Tags = ["right", "rare"] },
            new() { Search = "gguf", Tags = ["left"] },
            new() { Search = "gguf", Tags = ["right"], Offset = 10 },
            new() { Search = "-4", Tags = ["right"] },
            new() { Author = "ORG1", Tags = ["left"] },
            new() { Author = "org2", Search = "gguf" },
        ];
        foreach (var query in queries.Select(q => q with { Sort = ModelSort.LastModified, Limit = 5 }))
        {
            var expected = catalog
                .Where(m => query.Search is null || m.Name.Contains(query.Search, StringComparison.OrdinalIgnoreCase))
                .Where(m => query.Author is null || m.Name.StartsWith(query.Author + "/", StringComparison.OrdinalIgnoreCase))
                .Where(m => query.Tags.All(m.Tags.Contains))
                .OrderByDescending(m => m.Modified).Skip(query.Offset).Take(query.Limit).Select(m => m.Name);
            Assert.Equal(expected, (await store.SearchAsync(query, None)).Select(r => r.Name.ToString()));
        }
    }

    [Theory, ClassData(typeof(AllStores))]
    public async Task Metadata_refs_and_tokens_read_back_as_written(HubStoreKind kind)
    {
        await using var database = await TestDatabase.CreateAsync(kind);
        using var store = await database.OpenStoreAsync();
        var metadata = new ModelMetadata
        {
            License = "apache-2.0",
            PipelineTag = "text-generation",
            LibraryName = "transformers",
            Architecture = "Qwen3ForCausalLM",
            ModelType = "qwen3",
            ParameterCount = 300,
            TensorTypes = new Dictionary<string, long> { ["BF16"] = 200, ["F32"] = 100 },
            Tags = ["transformers", "qwen3", "license:apache-2.0"],
            CardDataJson = """{"license":"apache-2.0","language":["en","zh"]}""",
        };
        var repo = await CreateAsync(store, "acme/full", metadata);
        Assert.Equal(metadata.License, repo.Metadata.License);
        Assert.Equal(metadata.ParameterCount, repo.Metadata.ParameterCount);
        Assert.Equal(metadata.TensorTypes, repo.Metadata.TensorTypes);
        Assert.Equal(metadata.Tags, repo.Metadata.Tags);
        Assert.Equal(metadata.CardDataJson, repo.Metadata.CardDataJson);
        Assert.Equal((metadata.Architecture, metadata.ModelType, metadata.PipelineTag, metadata.LibraryName),
            (repo.Metadata.Architecture, repo.Metadata.ModelType, repo.Metadata.PipelineTag, repo.Metadata.LibraryName));
        Assert.Equal(Now.ToUnixTimeMilliseconds(), repo.LastModified.ToUnixTimeMilliseconds());

        Assert.True(await store.TryCreateRefAsync(repo.Id, new RefRecord(RefKind.Tag, "v1", repo.MainCommitId!), None));
        Assert.False(await store.TryCreateRefAsync(repo.Id, new RefRecord(RefKind.Tag, "v1", repo.MainCommitId!), None));
        Assert.Equal([new RefRecord(RefKind.Branch, "main", repo.MainCommitId!), new RefRecord(RefKind.Tag, "v1", repo.MainCommitId!)],
            await store.ListRefsAsync(repo.Id, None));

        var token = new TokenRecord(new string('f', 64), "alice", ["alice", "acme"], Now);
        await store.AddTokenAsync(token, None);
        var found = (await store.FindTokenAsync(token.TokenSha256, None))!;
        Assert.Equal(token.User, found.User);
        Assert.Equal(token.Namespaces, found.Namespaces);
        Assert.Null(await store.FindTokenAsync(new string('0', 64), None));
    }
}
