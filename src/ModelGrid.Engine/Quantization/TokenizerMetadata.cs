using System.Text.Json;
using ModelGrid.Engine.Text.Tokenization;

namespace ModelGrid.Engine.Quantization;

/// <summary>
/// The <c>tokenizer.*</c> GGUF keys llama.cpp's converter writes for a Qwen byte-level BPE tokenizer.json
/// (<c>_set_vocab_gpt2</c> and <c>SpecialVocab</c> in convert_hf_to_gguf.py / gguf-py).
/// </summary>
public static class TokenizerMetadata
{
    /// <summary>
    /// Vocabulary keys for a model with <paramref name="vocabularySize"/> embedding rows: tokens by id, padded with
    /// <c>[PAD{id}]</c> entries of type unused up to that size; types (added tokens: control when special, else
    /// user-defined, as <c>&lt;think&gt;</c> and <c>&lt;|fim_prefix|&gt;</c> are in Qwen3); merges as "a b"; bos/eos/padding ids; the chat template.
    /// tokenizer_config.json beside the tokenizer.json supplies special tokens and the template; config.json (when
    /// given) its bos_token_id, which Qwen sets to the padding token <c>&lt;|endoftext|&gt;</c>.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, object>> FromTokenizerJson(string tokenizerJsonPath, int vocabularySize, string? configJsonPath = null)
    {
        using var document = Parse(tokenizerJsonPath);
        var root = document.RootElement;
        var model = Property(root, "model", tokenizerJsonPath);
        var texts = new Dictionary<int, string>();
        foreach (var entry in Property(model, "vocab", tokenizerJsonPath).EnumerateObject())
            texts[entry.Value.GetInt32()] = entry.Name;
        var control = new HashSet<int>();
        var added = new HashSet<int>();
        if (root.TryGetProperty("added_tokens", out var addedTokens))
            foreach (var token in addedTokens.EnumerateArray())
            {
                int id = Property(token, "id", tokenizerJsonPath).GetInt32();
                string content = Property(token, "content", tokenizerJsonPath).GetString()!;
                texts[id] = content;
                added.Add(id);
                if (token.TryGetProperty("special", out var special) && special.ValueKind == JsonValueKind.True)
                    control.Add(id);
            }
        int largest = texts.Count == 0 ? -1 : texts.Keys.Max();
        if (largest >= vocabularySize)
            throw new ArgumentException($"{tokenizerJsonPath}: token id {largest} does not fit a vocabulary of {vocabularySize} embedding rows", nameof(vocabularySize));

        var tokens = new string[vocabularySize];
        var types = new int[vocabularySize];
        for (int id = 0; id < vocabularySize; id++)
        {
            (tokens[id], types[id]) = texts.TryGetValue(id, out string? text)
                ? (text, (int)(control.Contains(id) ? TokenType.Control : added.Contains(id) ? TokenType.UserDefined : TokenType.Normal))
                : ($"[PAD{id}]", (int)TokenType.Unused);
        }
        var merges = Property(model, "merges", tokenizerJsonPath).EnumerateArray()
            .Select(merge => merge.ValueKind == JsonValueKind.Array ? $"{merge[0].GetString()} {merge[1].GetString()}" : merge.GetString()!)
            .ToArray();

        var tokenizer = ByteLevelBpeTokenizer.FromTokenizerJson(tokenizerJsonPath, ConfigBeside(tokenizerJsonPath));
        var result = new List<KeyValuePair<string, object>>
        {
            new("tokenizer.ggml.model", "gpt2"),
            new("tokenizer.ggml.pre", tokenizer.PreTokenizer == PreTokenizerKind.Qwen35 ? "qwen35" : "qwen2"),
            new("tokenizer.ggml.tokens", tokens),
            new("tokenizer.ggml.token_type", types),
            new("tokenizer.ggml.merges", merges),
        };
        int? padding = SpecialTokenId(ConfigBeside(tokenizerJsonPath), "pad_token", tokenizer);
        int? bos = tokenizer.BosTokenId ?? ConfigTokenId(configJsonPath, "bos_token_id") ?? padding;
        if ((tokenizer.EosTokenId ?? ConfigTokenId(configJsonPath, "eos_token_id")) is int eos)
            result.Add(new("tokenizer.ggml.eos_token_id", (uint)eos));
        if (padding is int pad)
            result.Add(new("tokenizer.ggml.padding_token_id", (uint)pad));
        if (bos is int bosId)
            result.Add(new("tokenizer.ggml.bos_token_id", (uint)bosId));
        result.Add(new("tokenizer.ggml.add_bos_token", false));
        if (tokenizer.ChatTemplate is string template)
            result.Add(new("tokenizer.chat_template", template));
        return result;
    }

    static string? ConfigBeside(string tokenizerJsonPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tokenizerJsonPath))!, "tokenizer_config.json") is var path && File.Exists(path) ? path : null;

    static int? SpecialTokenId(string? tokenizerConfigPath, string field, ByteLevelBpeTokenizer tokenizer)
    {
        if (tokenizerConfigPath is null)
            return null;
        using var document = Parse(tokenizerConfigPath);
        if (!document.RootElement.TryGetProperty(field, out var value))
            return null;
        string? content = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object => Property(value, "content", tokenizerConfigPath).GetString(),
            _ => null,
        };
        return content is not null && tokenizer.TryGetTokenId(content, out int id) ? id : null;
    }

    static int? ConfigTokenId(string? configJsonPath, string field)
    {
        if (configJsonPath is null)
            return null;
        using var document = Parse(configJsonPath);
        var root = document.RootElement.TryGetProperty("text_config", out var text) && text.TryGetProperty(field, out _) ? text : document.RootElement;
        return root.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt32() : null;
    }

    static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    static JsonElement Property(JsonElement parent, string name, string source) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value)
            ? value
            : throw new TokenizerFormatException($"{source}: missing \"{name}\"");
}
