using System.Text.Json;

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>Reads Hugging Face tokenizer.json (BPE model, added tokens, normalizer, pre-tokenizer) and tokenizer_config.json.</summary>
static class HuggingFaceTokenizerFiles
{
    public static ByteLevelBpeTokenizer Load(string tokenizerJsonPath, string? tokenizerConfigPath, PreTokenizerKind? preTokenizerOverride, int modelVocabularySize)
    {
        using var tokenizerJson = ParseFile(tokenizerJsonPath);
        JsonElement root = tokenizerJson.RootElement;
        string source = tokenizerJsonPath;

        JsonElement model = Required(root, "model", source);
        if (model.TryGetProperty("type", out var modelType) && modelType.GetString() != "BPE")
            throw new NotSupportedException($"{source}: model.type \"{modelType.GetString()}\" is not supported (only BPE)");
        if (model.TryGetProperty("ignore_merges", out var ignoreMerges) && ignoreMerges.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{source}: model.ignore_merges = true is not supported");

        var texts = new List<string?>();
        var types = new List<TokenType>();
        foreach (JsonProperty entry in Required(model, "vocab", source).EnumerateObject())
            Place(entry.Value.GetInt32(), entry.Name, TokenType.Normal);

        var mergePairs = new List<(string, string)>();
        int rank = 0;
        foreach (JsonElement merge in Required(model, "merges", source).EnumerateArray())
        {
            string where = $"{source}: model.merges[{rank++}]";
            mergePairs.Add(merge.ValueKind switch
            {
                JsonValueKind.String => ByteLevelBpeTokenizer.SplitMerge(merge.GetString()!, where),
                JsonValueKind.Array when merge.GetArrayLength() == 2 => (merge[0].GetString()!, merge[1].GetString()!),
                _ => throw new TokenizerFormatException($"{where}: expected \"a b\" or [\"a\", \"b\"], found {merge.GetRawText()}"),
            });
        }

        if (root.TryGetProperty("added_tokens", out var addedTokens))
            foreach (JsonElement token in addedTokens.EnumerateArray())
                PlaceAdded(token, Required(token, "id", source).GetInt32(), source);

        string? bos = null, eos = null, chatTemplate = null;
        if (tokenizerConfigPath is not null)
        {
            using var config = ParseFile(tokenizerConfigPath);
            JsonElement configRoot = config.RootElement;
            if (configRoot.TryGetProperty("added_tokens_decoder", out var decoderTokens))
                foreach (JsonProperty token in decoderTokens.EnumerateObject())
                {
                    if (!int.TryParse(token.Name, out int id))
                        throw new TokenizerFormatException($"{tokenizerConfigPath}: added_tokens_decoder key \"{token.Name}\" is not a token id");
                    if (id >= texts.Count || texts[id] is null)
                        PlaceAdded(token.Value, id, tokenizerConfigPath);
                }
            bos = TokenContent(configRoot, "bos_token", tokenizerConfigPath);
            eos = TokenContent(configRoot, "eos_token", tokenizerConfigPath);
            if (configRoot.TryGetProperty("chat_template", out var template) && template.ValueKind == JsonValueKind.String)
                chatTemplate = template.GetString();
        }

        if (modelVocabularySize > texts.Count)
            Place(modelVocabularySize - 1, null, TokenType.Unused);
        bool normalizeNfc = ReadNormalizer(root, source);
        PreTokenizerKind preTokenizer = preTokenizerOverride ?? ReadPreTokenizer(root, source);
        int? bosId = bos is null ? null : IdOf(bos, "bos_token");
        int? eosId = eos is null ? null : IdOf(eos, "eos_token");
        return ByteLevelBpeTokenizer.Create(source, [.. texts], [.. types], mergePairs, preTokenizer, normalizeNfc, bosId, eosId, chatTemplate);

        void Place(int id, string? text, TokenType type)
        {
            if (id < 0)
                throw new TokenizerFormatException($"{source}: token \"{text}\" has negative id {id}");
            while (texts.Count <= id)
            {
                texts.Add(null);
                types.Add(TokenType.Unused);
            }
            texts[id] = text;
            types[id] = type;
        }

        void PlaceAdded(JsonElement token, int id, string where)
        {
            string content = Required(token, "content", where).GetString()!;
            bool special = token.TryGetProperty("special", out var flag) && flag.ValueKind == JsonValueKind.True;
            Place(id, content, special ? TokenType.Control : TokenType.UserDefined);
        }

        int IdOf(string content, string field)
        {
            int id = texts.IndexOf(content);
            return id >= 0 ? id : throw new TokenizerFormatException($"{tokenizerConfigPath}: {field} \"{content}\" is not a token of {source}");
        }
    }

    static JsonDocument ParseFile(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new TokenizerFormatException($"{path}: not valid JSON ({e.Message})", e);
        }
    }

    static JsonElement Required(JsonElement parent, string name, string source) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value)
            ? value
            : throw new TokenizerFormatException($"{source}: missing \"{name}\"");

    /// <summary>bos_token / eos_token are a string, an AddedToken object with "content", or null.</summary>
    static string? TokenContent(JsonElement config, string field, string source)
    {
        if (!config.TryGetProperty(field, out var value))
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object => Required(value, "content", source).GetString(),
            _ => throw new TokenizerFormatException($"{source}: {field} is {value.ValueKind}, expected a string or an object with content"),
        };
    }

    static bool ReadNormalizer(JsonElement root, string source)
    {
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
            return false;
        string? type = Required(normalizer, "type", source).GetString();
        return type == "NFC" ? true : throw new NotSupportedException($"{source}: normalizer \"{type}\" is not supported (only NFC)");
    }

    static PreTokenizerKind ReadPreTokenizer(JsonElement root, string source)
    {
        string? pattern = root.TryGetProperty("pre_tokenizer", out var preTokenizer) ? FindSplitRegex(preTokenizer) : null;
        if (pattern is null)
            throw new NotSupportedException($"{source}: pre_tokenizer has no Split regex; pass the pre-tokenizer explicitly");
        return QwenPreTokenizer.FromSplitPattern(pattern)
            ?? throw new NotSupportedException($"{source}: pre-tokenizer regex {pattern} is not one of the Qwen patterns");
    }

    static string? FindSplitRegex(JsonElement preTokenizer)
    {
        if (preTokenizer.ValueKind != JsonValueKind.Object || !preTokenizer.TryGetProperty("type", out var type))
            return null;
        if (type.GetString() == "Split" && preTokenizer.TryGetProperty("pattern", out var pattern) && pattern.TryGetProperty("Regex", out var regex))
            return regex.GetString();
        if (type.GetString() == "Sequence" && preTokenizer.TryGetProperty("pretokenizers", out var steps))
            foreach (JsonElement step in steps.EnumerateArray())
                if (FindSplitRegex(step) is string found)
                    return found;
        return null;
    }
}
