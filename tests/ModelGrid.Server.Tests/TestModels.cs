using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Server.Tests;

/// <summary>
/// The golden data set's tiny models that this build can load, found from the files: every model with expected
/// outputs, GGUF files first. Attention-only and recurrent (hybrid) models are told apart by trying to truncate.
/// </summary>
public static class TestModels
{
    static readonly Lazy<List<string>> Loadable = new(FindLoadable);

    /// <summary>Model paths in a stable order, each loadable; at most <paramref name="count"/>.</summary>
    public static IReadOnlyList<string> Paths(int count) => Loadable.Value.Take(count).ToList();

    /// <summary>An attention-only model (its sequences can be truncated: the prefix cache rewinds them).</summary>
    public static string AttentionOnly() => Loadable.Value.First(path => !IsRecurrent(path));

    /// <summary>A model with recurrent layers, if the data set has one.</summary>
    public static string? Recurrent() => Loadable.Value.FirstOrDefault(IsRecurrent);

    public static string Name(string path) => new Hosting.ModelSpec(path).Name;

    static List<string> FindLoadable()
    {
        var names = Directory.GetFiles(Golden.Path("expected"), "*.json")
            .Select(file => Path.GetFileName(file).Split('.')[0])
            .Distinct()
            .Order(StringComparer.Ordinal);
        var paths = new List<string>();
        foreach (string name in names)
        {
            string gguf = Golden.Path("models", name + ".gguf");
            string path = File.Exists(gguf) ? gguf : Golden.Path("models", name);
            if (!File.Exists(path) && !Directory.Exists(path))
                continue;
            try
            {
                using var model = LanguageModel.Load(path, new ModelOptions { Threads = 1 });
                if (model.ChatTemplate is null)
                    continue;
                using var session = model.CreateSession(16);
                _ = session.GenerateAsync([1, 2], new GenerationOptions { MaxTokens = 1, Sampling = SamplingOptions.Greedy }).ToBlockingEnumerable().Count();
                paths.Add(path);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A block type this build cannot compute yet: not a model for these tests.
            }
        }
        // GGUF files first: they load fastest and carry the chat template.
        return [.. paths.OrderBy(p => Directory.Exists(p) ? 1 : 0)];
    }

    static bool IsRecurrent(string path)
    {
        using var model = LanguageModel.Load(path, new ModelOptions { Threads = 1 });
        using var sequence = model.Decoder.CreateSequence(8);
        var batch = new ForwardBatch();
        batch.Add(sequence, [1, 2]);
        model.Decoder.Forward(batch, new float[model.Decoder.VocabSize]);
        try
        {
            sequence.Truncate(1);
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    /// <summary>The engine's own greedy continuation of <paramref name="prompt"/> (with its images): what the server must reproduce.</summary>
    public static async Task<string> EngineGreedyAsync(LanguageModel model, IReadOnlyList<int> prompt, int maxTokens,
        IReadOnlyList<Engine.Vision.ImageEmbedding>? images = null)
    {
        using var session = model.CreateSession();
        var text = new System.Text.StringBuilder();
        await foreach (var chunk in session.GenerateAsync(prompt, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy }, images ?? []))
            text.Append(chunk.Text);
        return text.ToString();
    }

    public static JsonArray UserMessage(string text) => [new JsonObject { ["role"] = "user", ["content"] = text }];
}
