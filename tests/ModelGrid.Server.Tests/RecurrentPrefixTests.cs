using System.Net.Http.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;

namespace ModelGrid.Server.Tests;

/// <summary>
/// Prefix caching for hybrid models (Gated DeltaNet layers), whose state cannot be cut back: the scheduler keeps copies of
/// the state at turn boundaries, and later requests sharing that prefix start from a copy.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class RecurrentPrefixTests(ServerFixture fixture)
{
    const int MaxTokens = 10;
    static readonly JsonObject NoThinking = new() { ["enable_thinking"] = false };

    LanguageModel Model => fixture.RecurrentModel ?? throw new InvalidOperationException("the golden set has no hybrid (recurrent) model");

    static JsonArray Conversation(string system, params string[] turns) =>
        [new JsonObject { ["role"] = "system", ["content"] = system },
         .. turns.Select((text, i) => (JsonNode)new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = text })];

    async Task<JsonObject> ChatAsync(JsonArray messages)
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = fixture.RecurrentName,
            ["messages"] = messages.DeepClone(),
            ["max_tokens"] = MaxTokens,
            ["temperature"] = 0,
            ["chat_template_kwargs"] = NoThinking.DeepClone(),
        });
        Assert.Equal(200, status);
        return body;
    }

    int[] Ids(JsonArray messages, bool generationPrompt = true) =>
        ChatPrompt.Encode(Model, messages, addGenerationPrompt: generationPrompt, templateArguments: NoThinking).Ids;

    static string Reply(JsonObject body) => (string)body["choices"]![0]!["message"]!["content"]!;

    static int CachedTokens(JsonObject body) => (int)body["usage"]!["prompt_tokens_details"]!["cached_tokens"]!;

    static int SharedPrefix(int[] a, int[] b)
    {
        int shared = 0;
        while (shared < a.Length && shared < b.Length && a[shared] == b[shared])
            shared++;
        return shared;
    }

    [Fact]
    public async Task A_shared_system_prompt_is_computed_once_and_the_output_is_unchanged()
    {
        string system = "You are a pirate who answers every question about the sea, the ships and the stars in rhyme.";
        var first = Conversation(system, "Where is the treasure?");
        var second = Conversation(system, "How deep is the ocean?");

        var firstReply = await ChatAsync(first);
        var secondReply = await ChatAsync(second);

        Assert.Equal(0, CachedTokens(firstReply));
        Assert.Equal(SharedPrefix(Ids(first), Ids(second)), CachedTokens(secondReply)); // up to where the user's text starts
        Assert.Equal(await TestModels.EngineGreedyAsync(Model, Ids(first), MaxTokens), Reply(firstReply));
        Assert.Equal(await TestModels.EngineGreedyAsync(Model, Ids(second), MaxTokens), Reply(secondReply));
    }

    [Fact]
    public async Task The_next_turn_of_a_conversation_starts_after_the_previous_user_turn()
    {
        string system = "You count sheep.";
        var turn = Conversation(system, "Start counting, please.");
        var reply = Reply(await ChatAsync(turn));
        var next = Conversation(system, "Start counting, please.", reply, "Keep going.");

        var nextReply = await ChatAsync(next);

        int previousTurn = SharedPrefix(Ids(turn, generationPrompt: false), Ids(next));
        Assert.True(previousTurn > SharedPrefix(Ids(turn), Ids(Conversation(system, "x"))));
        Assert.InRange(CachedTokens(nextReply), previousTurn, Ids(next).Length - 1);
        Assert.Equal(await TestModels.EngineGreedyAsync(Model, Ids(next), MaxTokens), Reply(nextReply));
    }

    [Fact]
    public async Task Metrics_count_the_recurrent_state_of_cached_prefixes()
    {
        await ChatAsync(Conversation("You are brief.", "Say yes."));

        string metrics = await fixture.Http.GetStringAsync("/metrics");
        var scheduler = fixture.Server.Catalog.Resolve(fixture.RecurrentName).Scheduler;
        Assert.True(scheduler.RecurrentStateBytes > 0);
        Assert.Matches($"modelgrid_recurrent_state_bytes{{model=\"{fixture.RecurrentName}\"}} [1-9]", metrics);
        Assert.Matches($"modelgrid_recurrent_state_bytes{{model=\"{fixture.ModelName}\"}} 0\n", metrics);
    }

    [Fact]
    public void A_forked_sequence_continues_exactly_like_the_original_and_independently_of_it()
    {
        var decoder = Model.Decoder;
        int[] prefix = Ids(Conversation("You fork.", "Go on."));
        int[] continuation = [.. prefix[..3]];
        using var original = decoder.CreateSequence(64);
        var batch = new ForwardBatch();
        batch.Add(original, prefix);
        decoder.Forward(batch, new float[decoder.VocabSize]);

        using var fork = original.Fork();
        var forked = Logits(decoder, fork, continuation[..1]);   // the copy moves first: the original must not notice
        var continued = Logits(decoder, original, continuation);

        // Computed in the same pieces, so that the comparison is exact.
        using var fresh = decoder.CreateSequence(64);
        Logits(decoder, fresh, prefix);
        Assert.Equal(Logits(decoder, fresh, continuation), continued);
        using var freshOne = decoder.CreateSequence(64);
        Logits(decoder, freshOne, prefix);
        Assert.Equal(Logits(decoder, freshOne, continuation[..1]), forked);
        Assert.Equal(prefix.Length + 1, fork.Length);
    }

    static float[] Logits(DecoderModel decoder, SequenceState sequence, int[] tokens)
    {
        var batch = new ForwardBatch();
        batch.Add(sequence, tokens);
        var logits = new float[decoder.VocabSize];
        decoder.Forward(batch, logits);
        return logits;
    }
}
