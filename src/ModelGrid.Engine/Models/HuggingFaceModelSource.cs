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

    /// <summary>Checkpoint conventions the GGUF converter rewrites (e.g. Qwen3.5's zero-centered norms and A_log) are still in place.</summary>
    public override bool HasHuggingFaceConventions => true;

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
        foreach (string shard in SafetensorsFolder.ShardPaths(_folder, Name))
        {
            var file = new SafetensorsFile(shard);
            _files.Add(file);
            foreach (var tensor in file.Tensors.Values)
                if (GgufTensorName(tensor.Name, Architecture) is { } ggufName)
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
            tensor = entry.File.View(entry.Tensor, name);
            _views.Add(name, tensor);
            return true;
        }
    }

    public override void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
    }

    /// <summary>llama.cpp's tensor name for a Hugging Face one (the converter's mapping), or null for tensors the engine does not use.</summary>
    internal static string? GgufTensorName(string hfName, string architecture)
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
        string layer = match.Groups["layer"].Value, path = match.Groups["path"].Value;
        var expert = ExpertTensor().Match(path);
        if (expert.Success)
            return $"blk.{layer}.{LayerTensorNames[expert.Groups["proj"].Value].Replace(".weight", "")}.{expert.Groups["expert"].Value}.weight";
        if (path == "post_attention_layernorm.weight" && architecture is "qwen35" or "qwen35moe")
            return $"blk.{layer}.post_attention_norm.weight";
        return LayerTensorNames.TryGetValue(path, out string? mapped) ? $"blk.{layer}.{mapped}" : null;
    }

    static readonly Dictionary<string, string> LayerTensorNames = new(StringComparer.Ordinal)
    {
        ["input_layernorm.weight"] = "attn_norm.weight",
        ["post_attention_layernorm.weight"] = "ffn_norm.weight",
        ["self_attn.q_proj.weight"] = "attn_q.weight",
        ["self_attn.k_proj.weight"] = "attn_k.weight",
        ["self_attn.v_proj.weight"] = "attn_v.weight",
        ["self_attn.q_proj.bias"] = "attn_q.bias",
        ["self_attn.k_proj.bias"] = "attn_k.bias",
        ["self_attn.v_proj.bias"] = "attn_v.bias",
        ["self_attn.o_proj.weight"] = "attn_output.weight",
        ["self_attn.q_norm.weight"] = "attn_q_norm.weight",
        ["self_attn.k_norm.weight"] = "attn_k_norm.weight",
        ["mlp.gate_proj.weight"] = "ffn_gate.weight",
        ["mlp.up_proj.weight"] = "ffn_up.weight",
        ["mlp.down_proj.weight"] = "ffn_down.weight",
        ["mlp.gate.weight"] = "ffn_gate_inp.weight",
        ["gate_proj"] = "ffn_gate_exps.weight",
        ["up_proj"] = "ffn_up_exps.weight",
        ["down_proj"] = "ffn_down_exps.weight",
        ["mlp.experts.gate_up_proj"] = "ffn_gate_up_exps.weight",
        ["mlp.experts.down_proj"] = "ffn_down_exps.weight",
        ["mlp.shared_expert.gate_proj.weight"] = "ffn_gate_shexp.weight",
        ["mlp.shared_expert.up_proj.weight"] = "ffn_up_shexp.weight",
        ["mlp.shared_expert.down_proj.weight"] = "ffn_down_shexp.weight",
        ["mlp.shared_expert_gate.weight"] = "ffn_gate_inp_shexp.weight",
        ["linear_attn.in_proj_qkv.weight"] = "attn_qkv.weight",
        ["linear_attn.in_proj_z.weight"] = "attn_gate.weight",
        ["linear_attn.in_proj_b.weight"] = "ssm_beta.weight",
        ["linear_attn.in_proj_a.weight"] = "ssm_alpha.weight",
        ["linear_attn.A_log"] = "ssm_a",
        ["linear_attn.dt_bias"] = "ssm_dt.bias",
        ["linear_attn.conv1d.weight"] = "ssm_conv1d.weight",
        ["linear_attn.norm.weight"] = "ssm_norm.weight",
        ["linear_attn.out_proj.weight"] = "ssm_out.weight",
    };

    [GeneratedRegex(@"^model\.language_model\.")]
    private static partial Regex LanguageModelPrefix();

    [GeneratedRegex(@"^model\.layers\.(?<layer>\d+)\.(?<path>.+)$")]
    private static partial Regex LayerTensor();

    [GeneratedRegex(@"^mlp\.experts\.(?<expert>\d+)\.(?<proj>gate_proj|up_proj|down_proj)\.weight$")]
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
        Set("full_attention_interval", "full_attention_interval", Int);
        Set("ssm.conv_kernel", "linear_conv_kernel_dim", Int);
        Set("ssm.state_size", "linear_key_head_dim", Int);
        Set("ssm.group_count", "linear_num_key_heads", Int);
        Set("ssm.time_step_rank", "linear_num_value_heads", Int);
        if (config["layer_types"] is JsonArray layerTypes)
            values[$"{arch}.attention.recurrent_layers"] = layerTypes.Select(t => (string?)t == "linear_attention").ToArray();
        if ((long?)config["linear_value_head_dim"] is long valueHeadDim && (long?)config["linear_num_value_heads"] is long valueHeads)
            values[$"{arch}.ssm.inner_size"] = valueHeadDim * valueHeads;
        var rope = config["rope_parameters"] as JsonObject ?? config["rope_scaling"] as JsonObject;
        if ((double?)rope?["rope_theta"] is double theta)
            values[$"{arch}.rope.freq_base"] = theta;
        if (((double?)rope?["partial_rotary_factor"] ?? (double?)config["partial_rotary_factor"]) is double factor && (long?)config["head_dim"] is long headDim)
            values[$"{arch}.rope.dimension_count"] = (long)(headDim * factor);
        if (rope?["mrope_section"] is JsonArray sections)
            values[$"{arch}.rope.dimension_sections"] = sections.Select(v => (long)v!).Concat(Enumerable.Repeat(0L, 4)).Take(4).ToArray();

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
