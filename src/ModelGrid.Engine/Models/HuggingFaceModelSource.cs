using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Safetensors;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models;

/// <summary>
/// A Hugging Face model folder (config.json, model.safetensors or a sharded index, tokenizer files), presented
/// with GGUF metadata keys and tensor names as llama.cpp's converter would write them.
/// </summary>
public sealed unsafe partial class HuggingFaceModelSource : ModelSource
{
    readonly List<SafetensorsFile> _files = [];
    readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensor Tensor)> _tensors = new(StringComparer.Ordinal);
    readonly Dictionary<string, WeightTensor> _views = new(StringComparer.Ordinal);
    readonly string _folder;

    HuggingFaceModelSource(string folder, GgufMetadata metadata)
    {
        _folder = folder;
        Metadata = metadata;
    }

    public override string Name => Path.GetFileName(Path.TrimEndingDirectorySeparator(_folder));

    public override GgufMetadata Metadata { get; }

    public override string? TokenizerJsonPath => Path.Combine(_folder, "tokenizer.json") is var path && File.Exists(path) ? path : null;

    public override IEnumerable<string> TensorNames => _tensors.Keys;

    public static new HuggingFaceModelSource Open(string folder)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        string configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath))
            throw new ModelFormatException($"{name}: config.json is missing; a Hugging Face model folder needs one");
        JsonObject config;
        try
        {
            config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                ?? throw new ModelFormatException($"{name}: config.json is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{name}: config.json is not valid JSON ({e.Message})");
        }
        var source = new HuggingFaceModelSource(folder, TranslateConfig(name, config, folder));
        try
        {
            source.OpenWeights();
            return source;
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    void OpenWeights()
    {
        string single = Path.Combine(_folder, "model.safetensors");
        string index = Path.Combine(_folder, "model.safetensors.index.json");
        IEnumerable<string> shards;
        if (File.Exists(single))
            shards = [single];
        else if (File.Exists(index))
        {
            var weightMap = JsonNode.Parse(File.ReadAllText(index))?["weight_map"] as JsonObject
                ?? throw new ModelFormatException($"{Name}: model.safetensors.index.json has no weight_map");
            shards = weightMap.Select(entry => (string?)entry.Value ?? "").Distinct().Select(file =>
                file.Length > 0 && Path.GetFileName(file) == file
                    ? Path.Combine(_folder, file)
                    : throw new ModelFormatException($"{Name}: model.safetensors.index.json names an invalid shard '{file}'"));
        }
        else
            throw new ModelFormatException($"{Name}: neither model.safetensors nor model.safetensors.index.json is present");

        foreach (string shard in shards)
        {
            if (!File.Exists(shard))
                throw new ModelFormatException($"{Name}: shard '{Path.GetFileName(shard)}' is missing");
            var file = new SafetensorsFile(shard);
            _files.Add(file);
            foreach (var tensor in file.Tensors.Values)
                if (GgufTensorName(tensor.Name) is { } ggufName)
                    _tensors[ggufName] = (file, tensor);
        }
    }

    public override bool TryGetTensor(string name, out WeightTensor tensor)
    {
        lock (_views)
        {
            if (_views.TryGetValue(name, out tensor!))
                return true;
            if (!_tensors.TryGetValue(name, out var entry))
                return false;
            // Row-major [out, in] is ggml's [in, out]: the same bytes with the dimension order reversed.
            long[] dims = entry.Tensor.Shape.Length == 0 ? [1] : entry.Tensor.Shape.Reverse().ToArray();
            tensor = new WeightTensor(name, entry.Tensor.Type, dims, entry.File.DataPointer(entry.Tensor));
            _views.Add(name, tensor);
            return true;
        }
    }

    public override WeightTensor[] GetExperts(string stackedName, int expertCount, long rowLength, long rows)
    {
        if (_tensors.ContainsKey(stackedName))
            return base.GetExperts(stackedName, expertCount, rowLength, rows);
        // blk.N.ffn_gate_exps.weight -> blk.N.ffn_gate_exps.E.weight, the per-expert names GgufTensorName gives.
        string prefix = stackedName[..^".weight".Length];
        return Enumerable.Range(0, expertCount).Select(e => GetTensor($"{prefix}.{e}.weight", rowLength, rows)).ToArray();
    }

    public override void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
    }

    /// <summary>llama.cpp's tensor name for a Hugging Face one (the converter's mapping), or null for tensors the engine does not use.</summary>
    internal static string? GgufTensorName(string hfName)
    {
        string name = LanguageModelPrefix().Replace(hfName, "model.");
        switch (name)
        {
            case "model.embed_tokens.weight": return "token_embd.weight";
            case "model.norm.weight": return "output_norm.weight";
            case "lm_head.weight": return "output.weight";
        }
        var match = LayerTensor().Match(name);
        if (!match.Success)
            return null;
        string layer = match.Groups["layer"].Value, path = match.Groups["path"].Value, kind = match.Groups["kind"].Value;
        var expert = ExpertTensor().Match(path);
        string? mapped = expert.Success
            ? $"{LayerTensorNames.GetValueOrDefault("mlp.experts." + expert.Groups["proj"].Value)}.{expert.Groups["expert"].Value}"
            : LayerTensorNames.GetValueOrDefault(path);
        return mapped is null || mapped.StartsWith('.') ? null : $"blk.{layer}.{mapped}.{kind}";
    }

    static readonly Dictionary<string, string> LayerTensorNames = new(StringComparer.Ordinal)
    {
        ["input_layernorm"] = "attn_norm",
        ["post_attention_layernorm"] = "ffn_norm",
        ["self_attn.q_proj"] = "attn_q",
        ["self_attn.k_proj"] = "attn_k",
        ["self_attn.v_proj"] = "attn_v",
        ["self_attn.o_proj"] = "attn_output",
        ["self_attn.q_norm"] = "attn_q_norm",
        ["self_attn.k_norm"] = "attn_k_norm",
        ["mlp.gate_proj"] = "ffn_gate",
        ["mlp.up_proj"] = "ffn_up",
        ["mlp.down_proj"] = "ffn_down",
        ["mlp.gate"] = "ffn_gate_inp",
        ["mlp.experts.gate_proj"] = "ffn_gate_exps",
        ["mlp.experts.up_proj"] = "ffn_up_exps",
        ["mlp.experts.down_proj"] = "ffn_down_exps",
        ["mlp.shared_expert.gate_proj"] = "ffn_gate_shexp",
        ["mlp.shared_expert.up_proj"] = "ffn_up_shexp",
        ["mlp.shared_expert.down_proj"] = "ffn_down_shexp",
        ["mlp.shared_expert_gate"] = "ffn_gate_inp_shexp",
    };

    [GeneratedRegex(@"^model\.language_model\.")]
    private static partial Regex LanguageModelPrefix();

    [GeneratedRegex(@"^model\.layers\.(?<layer>\d+)\.(?<path>.+)\.(?<kind>weight|bias)$")]
    private static partial Regex LayerTensor();

    [GeneratedRegex(@"^mlp\.experts\.(?<expert>\d+)\.(?<proj>gate_proj|up_proj|down_proj)$")]
    private static partial Regex ExpertTensor();

    /// <summary>config.json (or its text_config) as the GGUF metadata keys llama.cpp's converter writes.</summary>
    static GgufMetadata TranslateConfig(string name, JsonObject root, string folder)
    {
        var config = root["text_config"] as JsonObject ?? root;
        string modelType = (string?)config["model_type"] ?? (string?)root["model_type"]
            ?? throw new ModelFormatException($"{name}: config.json has no model_type");
        string arch = ArchitectureNames.GetValueOrDefault(modelType, modelType);
        var values = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["general.architecture"] = arch,
            ["general.name"] = name,
        };
        void Set(string key, string field, Func<JsonNode, object> convert)
        {
            if (config[field] is { } node)
            {
                try
                {
                    values[$"{arch}.{key}"] = convert(node);
                }
                catch (Exception e) when (e is FormatException or InvalidOperationException or ArgumentException)
                {
                    throw new ModelFormatException($"{name}: config.json field '{field}' has an invalid value {node.ToJsonString()}");
                }
            }
        }
        static object Int(JsonNode n) => (long)n.GetValue<double>() is var v && v == n.GetValue<double>() ? v : throw new FormatException();
        static object Real(JsonNode n) => n.GetValue<double>();
        Set("context_length", "max_position_embeddings", Int);
        Set("embedding_length", "hidden_size", Int);
        Set("block_count", "num_hidden_layers", Int);
        Set("feed_forward_length", "intermediate_size", Int);
        Set("attention.head_count", "num_attention_heads", Int);
        Set("attention.head_count_kv", "num_key_value_heads", Int);
        Set("attention.key_length", "head_dim", Int);
        Set("attention.value_length", "head_dim", Int);
        Set("rope.freq_base", "rope_theta", Real);
        Set("attention.layer_norm_rms_epsilon", "rms_norm_eps", Real);
        Set("expert_count", "num_experts", Int);
        Set("expert_used_count", "num_experts_per_tok", Int);
        Set("expert_feed_forward_length", "moe_intermediate_size", Int);
        Set("expert_shared_feed_forward_length", "shared_expert_intermediate_size", Int);
        Set("vocab_size", "vocab_size", Int);

        string tokenizerConfig = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(tokenizerConfig) && JsonNode.Parse(File.ReadAllText(tokenizerConfig)) is JsonObject tokenizer
            && tokenizer["chat_template"] is JsonValue template && template.TryGetValue(out string? text))
            values["tokenizer.chat_template"] = text;
        string templateFile = Path.Combine(folder, "chat_template.jinja");
        if (!values.ContainsKey("tokenizer.chat_template") && File.Exists(templateFile))
            values["tokenizer.chat_template"] = File.ReadAllText(templateFile);
        return new GgufMetadata(values, name);
    }

    static readonly Dictionary<string, string> ArchitectureNames = new(StringComparer.Ordinal)
    {
        ["qwen3_moe"] = "qwen3moe",
        ["qwen3_5_text"] = "qwen35",
        ["qwen3_5"] = "qwen35",
        ["qwen3_5_moe_text"] = "qwen35moe",
        ["qwen3_5_moe"] = "qwen35moe",
    };
}
