using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Text.Tokenization;

namespace ModelGrid.Engine.Tests.Tokenization;

/// <summary>
/// The tokenizer of every golden model (GGUF metadata, or a Hugging Face folder's tokenizer.json) against
/// golden/expected: the prompt must encode to prompt_ids, and greedy_ids must decode to greedy_bytes_hex.
/// </summary>
public sealed class ModelTokenizerTests
{
    static readonly ConcurrentDictionary<(string Model, int VocabularySize), ByteLevelBpeTokenizer> Loaded = new();

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in Directory.EnumerateFiles(Golden.Path("expected"), "*.json").Order())
        {
            string[] parts = Path.GetFileName(file).Split('.');
            if (parts.Length == 3 && ModelPath(parts[0]) is not null)
                data.Add(parts[0], parts[1]);
        }
        return data;
    }

    static string? ModelPath(string model)
    {
        string folder = Golden.Path("models", model);
        if (File.Exists(Path.Combine(folder, "tokenizer.json")))
            return folder;
        return File.Exists(folder + ".gguf") ? folder + ".gguf" : null;
    }

    sealed record Expected(string Prompt, int[] PromptIds, int[] GreedyIds, byte[] GreedyBytes, int VocabularySize);

    static Expected LoadExpected(string model, string prompt)
    {
        using var json = JsonDocument.Parse(File.ReadAllBytes(Golden.Path("expected", $"{model}.{prompt}.json")));
        var root = json.RootElement;
        return new Expected(
            root.GetProperty("prompt").GetString()!,
            [.. root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32())],
            [.. root.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32())],
            Convert.FromHexString(root.GetProperty("greedy_bytes_hex").GetString()!),
            root.GetProperty("n_vocab").GetInt32());
    }

    static ByteLevelBpeTokenizer TokenizerOf(string model, int vocabularySize) => Loaded.GetOrAdd((model, vocabularySize), key =>
    {
        string path = ModelPath(key.Model)!;
        if (Directory.Exists(path))
            return ByteLevelBpeTokenizer.FromHuggingFaceDirectory(path, key.VocabularySize);
        using var file = GgufFile.Open(path);
        return ByteLevelBpeTokenizer.FromGgufMetadata(file.Metadata);
    });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prompt_encodes_to_reference_ids(string model, string prompt)
    {
        var expected = LoadExpected(model, prompt);
        Assert.Equal(expected.PromptIds, TokenizerOf(model, expected.VocabularySize).Encode(expected.Prompt, parseSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_ids_decode_to_reference_bytes(string model, string prompt)
    {
        var expected = LoadExpected(model, prompt);
        var tokenizer = TokenizerOf(model, expected.VocabularySize);

        Assert.Equal(expected.VocabularySize, tokenizer.VocabularySize);
        Assert.Equal(expected.GreedyBytes, expected.GreedyIds.SelectMany(id => tokenizer.TokenBytes(id).ToArray()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Streaming_decode_of_greedy_ids_equals_lossy_decode_of_reference_bytes(string model, string prompt)
    {
        var expected = LoadExpected(model, prompt);
        var decoder = TokenizerOf(model, expected.VocabularySize).CreateStreamingDecoder();

        string streamed = string.Concat(expected.GreedyIds.Select(decoder.Append)) + decoder.Flush();

        Assert.Equal(Encoding.UTF8.GetString(expected.GreedyBytes), streamed);
    }
}
