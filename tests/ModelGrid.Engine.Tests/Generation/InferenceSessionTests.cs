using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Tests.Models;

namespace ModelGrid.Engine.Tests.Generation;

/// <summary>The embedding API: load, session, streamed generation, stopping, cancellation, multi-turn reuse.</summary>
public sealed class InferenceSessionTests
{
    static readonly GoldenCase Case = GoldenCase.Load(FirstModel(), "chat");

    static string FirstModel() =>
        Directory.EnumerateFiles(Golden.Path("expected"), "*.chat.json").Select(f => Path.GetFileName(f)[..^".chat.json".Length])
            .Where(m => File.Exists(Golden.Path("models", m + ".gguf"))).Order().First();

    static GenerationOptions Greedy(int maxTokens) =>
        new() { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy, IgnoreEndOfGeneration = true };

    static async Task<List<GenerationChunk>> Collect(IAsyncEnumerable<GenerationChunk> chunks, CancellationToken ct = default)
    {
        var list = new List<GenerationChunk>();
        await foreach (var chunk in chunks.WithCancellation(ct))
            list.Add(chunk);
        return list;
    }

    [Fact]
    public async Task Greedy_stream_reproduces_the_golden_tokens_until_the_first_near_tie()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 2 });
        using var session = model.CreateSession();
        var chunks = await Collect(session.GenerateAsync(Case.PromptIds, Greedy(Case.GreedyIds.Length)));
        int reliable = Array.FindIndex(Case.GreedyMargins, m => m < Case.MarginThreshold) is var i and >= 0 ? i : Case.GreedyIds.Length;
        Assert.Equal(Case.GreedyIds[..reliable], chunks.Where(c => c.TokenId is not null).Select(c => c.TokenId!.Value).Take(reliable));
        var last = chunks[^1];
        Assert.Equal(FinishReason.Length, last.FinishReason);
        Assert.Equal(Case.PromptIds.Length, last.PromptTokens);
        Assert.Equal(Case.GreedyIds.Length, last.CompletionTokens);
    }

    [Fact]
    public async Task Max_tokens_bounds_the_reply()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 2 });
        using var session = model.CreateSession();
        var chunks = await Collect(session.GenerateAsync(Case.PromptIds, Greedy(3)));
        Assert.Equal(3, chunks.Count(c => c.TokenId is not null));
        Assert.Equal(FinishReason.Length, chunks[^1].FinishReason);
    }

    [Fact]
    public async Task A_stop_string_ends_generation_and_is_not_emitted()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 2 });
        using var session = model.CreateSession();
        string full = string.Concat((await Collect(session.GenerateAsync(Case.PromptIds, Greedy(16)))).Select(c => c.Text));
        string stop = full.Substring(full.Length / 2, 3);
        using var second = model.CreateSession();
        var chunks = await Collect(second.GenerateAsync(Case.PromptIds, Greedy(16) with { Stop = [stop] }));
        string text = string.Concat(chunks.Select(c => c.Text));
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], text);
        Assert.Equal(FinishReason.Stop, chunks[^1].FinishReason);
    }

    [Fact]
    public async Task Cancellation_stops_the_stream()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 2 });
        using var session = model.CreateSession();
        using var cancel = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in session.GenerateAsync(Case.PromptIds, Greedy(1000), cancel.Token))
                if (++seen == 2)
                    cancel.Cancel();
        });
        Assert.Equal(2, seen);
    }

    [Fact]
    public async Task Next_turn_reuses_the_history_and_matches_a_fresh_session()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 2 });
        using var session = model.CreateSession();
        var first = await Collect(session.GenerateAsync(Case.PromptIds, Greedy(4)));
        int[] turn = [.. session.Tokens, .. model.Tokenizer.Encode("<|im_end|>\n<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n", true)];
        var continued = await Collect(session.GenerateAsync(turn, Greedy(6)));

        using var fresh = model.CreateSession();
        var expected = await Collect(fresh.GenerateAsync(turn, Greedy(6)));
        Assert.Equal(expected.Select(c => c.TokenId), continued.Select(c => c.TokenId));
        Assert.NotEmpty(first);
    }

    [Fact]
    public async Task Prompt_longer_than_the_context_is_refused()
    {
        using var model = LanguageModel.Load(Case.ModelPath, new() { Threads = 1, ContextLength = 8 });
        using var session = model.CreateSession();
        await Assert.ThrowsAsync<ModelGrid.Engine.Models.ContextLengthExceededException>(() => Collect(session.GenerateAsync(Case.PromptIds, Greedy(2))));
    }
}
