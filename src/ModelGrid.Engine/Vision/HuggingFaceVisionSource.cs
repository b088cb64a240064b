using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Safetensors;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// The vision tower of a Hugging Face Qwen-VL folder (<c>model.visual.*</c> weights, <c>vision_config</c>,
/// preprocessor_config.json) presented as the mmproj GGUF llama.cpp's converter would write: <c>clip.*</c> metadata
/// and <c>v.*</c> / <c>mm.*</c> tensor names. The one tensor the converter reshapes, the Conv3d patch kernel
/// [out, 3, temporal, p, p], is split here into its temporal slices <c>v.patch_embd.weight</c> and <c>.weight.1</c>.
/// </summary>
public sealed unsafe partial class HuggingFaceVisionSource : ModelSource
{
    /// <summary>vision_config.model_type of the towers whose projector is <c>qwen3vl_merger</c>.</summary>
    static readonly Dictionary<string, string> ProjectorTypes = new(StringComparer.Ordinal)
    {
        ["qwen3_vl"] = "qwen3vl_merger",
        ["qwen3_vl_moe"] = "qwen3vl_merger",
        ["qwen3_5"] = "qwen3vl_merger",
        ["qwen3_5_moe"] = "qwen3vl_merger",
    };

    readonly string _folder;
    readonly List<SafetensorsFile> _files = [];
    readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensor Tensor)> _tensors = new(StringComparer.Ordinal);
    readonly Dictionary<string, WeightTensor> _views = new(StringComparer.Ordinal);
    readonly NativeBuffer<byte> _patchSlices = new();
    readonly int[] _deepstackBlocks;
    bool _patchKernelSplit;

    HuggingFaceVisionSource(string folder, GgufMetadata metadata, int[] deepstackBlocks)
    {
        _folder = folder;
        Metadata = metadata;
        _deepstackBlocks = deepstackBlocks;
    }

    public override string Name => Path.GetFileName(Path.TrimEndingDirectorySeparator(_folder));

    public override GgufMetadata Metadata { get; }

    public override IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>True when <paramref name="folder"/> has a config.json with a <c>vision_config</c> (a multimodal checkpoint).</summary>
    public static bool HasVisionConfig(string folder)
    {
        string path = Path.Combine(folder, "config.json");
        try
        {
            return File.Exists(path) && JsonNode.Parse(File.ReadAllText(path)) is JsonObject config && config["vision_config"] is JsonObject;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public static new HuggingFaceVisionSource Open(string folder)
    {
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        var config = ReadJson(folder, "config.json", required: true)!;
        var vision = config["vision_config"] as JsonObject
            ?? throw new ModelFormatException($"{name}: config.json has no vision_config; the folder holds no vision tower");
        var preprocessor = ReadJson(folder, "preprocessor_config.json", required: false);
        var (metadata, deepstack) = TranslateConfig(name, vision, preprocessor);
        var source = new HuggingFaceVisionSource(folder, metadata, deepstack);
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

    static JsonObject? ReadJson(string folder, string file, bool required)
    {
        string path = Path.Combine(folder, file);
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(folder));
        if (!File.Exists(path))
            return required ? throw new ModelFormatException($"{name}: {file} is missing") : null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException($"{name}: {file} is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{name}: {file} is not valid JSON ({e.Message})");
        }
    }

    /// <summary>vision_config and preprocessor_config.json as the <c>clip.*</c> keys of llama.cpp's converter.</summary>
    static (GgufMetadata Metadata, int[] DeepstackBlocks) TranslateConfig(string name, JsonObject vision, JsonObject? preprocessor)
    {
        long Integer(JsonObject? json, string field, long? fallback = null)
        {
            var node = json?[field];
            if (node is null)
                return fallback ?? throw new ModelFormatException($"{name}: vision_config field '{field}' is missing");
            try
            {
                double value = node.GetValue<double>();
                return value == Math.Floor(value) ? (long)value : throw new FormatException();
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                throw new ModelFormatException($"{name}: field '{field}' has an invalid value {node.ToJsonString()}");
            }
        }
        float[] Floats(JsonObject? json, string field, float[] fallback) =>
            json?[field] is JsonArray array ? array.Select(v => (float)(double)v!).ToArray() : fallback;

        string modelType = (string?)vision["model_type"] ?? throw new ModelFormatException($"{name}: vision_config has no model_type");
        long blocks = Integer(vision, "depth");
        int[] deepstack = vision["deepstack_visual_indexes"] is JsonArray indexes ? indexes.Select(v => (int)v!).ToArray() : [];
        if (deepstack.Any(i => i < 0 || i >= blocks))
            throw new ModelFormatException($"{name}: deepstack_visual_indexes [{string.Join(", ", deepstack)}] must name blocks 0..{blocks - 1}");
        long patch = Integer(vision, "patch_size");
        long merge = Integer(vision, "spatial_merge_size", 2);
        // Hugging Face's processor calls its pixel budget size.shortest_edge / longest_edge (older: min_pixels / max_pixels).
        var size = preprocessor?["size"] as JsonObject;
        long tokenPixels = patch * merge * patch * merge;
        var values = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["general.architecture"] = "clip",
            ["general.type"] = "mmproj",
            ["general.name"] = name,
            ["clip.has_vision_encoder"] = true,
            ["clip.projector_type"] = ProjectorTypes.GetValueOrDefault(modelType, modelType),
            ["clip.use_gelu"] = ((string?)vision["hidden_act"] ?? "gelu_pytorch_tanh").StartsWith("gelu", StringComparison.Ordinal),
            ["clip.use_silu"] = (string?)vision["hidden_act"] == "silu",
            ["clip.vision.embedding_length"] = Integer(vision, "hidden_size"),
            ["clip.vision.feed_forward_length"] = Integer(vision, "intermediate_size"),
            ["clip.vision.block_count"] = blocks,
            ["clip.vision.attention.head_count"] = Integer(vision, "num_heads"),
            ["clip.vision.patch_size"] = patch,
            ["clip.vision.spatial_merge_size"] = merge,
            ["clip.vision.projection_dim"] = Integer(vision, "out_hidden_size"),
            // The Qwen-VL vision blocks build nn.LayerNorm(eps=1e-6) without a config field.
            ["clip.vision.attention.layer_norm_epsilon"] = 1e-6,
            ["clip.vision.is_deepstack_layers"] = Enumerable.Range(0, (int)blocks).Select(deepstack.Contains).ToArray(),
            ["clip.vision.image_mean"] = Floats(preprocessor, "image_mean", [0.5f, 0.5f, 0.5f]),
            ["clip.vision.image_std"] = Floats(preprocessor, "image_std", [0.5f, 0.5f, 0.5f]),
            ["clip.vision.image_min_pixels"] = Integer(size, "shortest_edge", Integer(preprocessor, "min_pixels", 8 * tokenPixels)),
            ["clip.vision.image_max_pixels"] = Integer(size, "longest_edge", Integer(preprocessor, "max_pixels", 4096 * tokenPixels)),
        };
        return (new GgufMetadata(values, name), deepstack);
    }

    void OpenWeights()
    {
        // Only the shards that hold vision weights: the language model's may be many gigabytes.
        foreach (string shard in SafetensorsFolder.ShardPaths(_folder, Name, tensor => VisionPrefix().IsMatch(tensor)))
        {
            var file = new SafetensorsFile(shard);
            _files.Add(file);
            foreach (var tensor in file.Tensors.Values)
                if (GgufTensorName(tensor.Name) is { } ggufName)
                    _tensors[ggufName] = (file, tensor);
        }
        if (_tensors.Count == 0)
            throw new ModelFormatException($"{Name}: no vision weights (model.visual.*) in the safetensors files");
    }

    public override bool TryGetTensor(string name, out WeightTensor tensor)
    {
        lock (_views)
        {
            if (_views.TryGetValue(name, out tensor!))
                return true;
            if (name is "v.patch_embd.weight" or "v.patch_embd.weight.1")
            {
                if (!_patchKernelSplit && _tensors.ContainsKey("v.patch_embd.conv3d"))
                    SplitPatchKernel();
                return _views.TryGetValue(name, out tensor!);
            }
            if (!_tensors.TryGetValue(name, out var entry))
                return false;
            tensor = entry.File.View(entry.Tensor, name);
            _views.Add(name, tensor);
            return true;
        }
    }

    /// <summary>
    /// Conv3d [out, c, t, p, p] → one [out, c, p, p] kernel per temporal slice (ggml dims [p, p, c, out]), as the
    /// converter writes them; a still image is the same frame in every slice, so the tower sums their outputs.
    /// </summary>
    void SplitPatchKernel()
    {
        var (file, conv) = _tensors["v.patch_embd.conv3d"];
        if (conv.Shape.Length != 5)
            throw new ModelFormatException($"{Name}: patch_embed.proj.weight has shape [{string.Join(", ", conv.Shape)}], expected a Conv3d kernel [out, channels, temporal, patch, patch]");
        long outputs = conv.Shape[0], channels = conv.Shape[1], temporal = conv.Shape[2], patch = conv.Shape[3];
        if (temporal is < 1 or > 2 || conv.Shape[4] != patch)
            throw new ModelFormatException($"{Name}: patch_embed.proj.weight has shape [{string.Join(", ", conv.Shape)}]; temporal patch 1 or 2 and square patches are supported");
        long elementBytes = GgmlTypeInfo.BlockBytes(conv.Type);
        long planeBytes = patch * patch * elementBytes;
        long sliceBytes = outputs * channels * planeBytes;
        _patchSlices.EnsureCapacity(temporal * sliceBytes);
        byte* source = file.DataPointer(conv);
        for (long t = 0; t < temporal; t++)
            for (long oc = 0; oc < outputs * channels; oc++)
                Buffer.MemoryCopy(source + (oc * temporal + t) * planeBytes, _patchSlices.Pointer + t * sliceBytes + oc * planeBytes, planeBytes, planeBytes);
        for (int t = 0; t < temporal; t++)
        {
            string name = t == 0 ? "v.patch_embd.weight" : "v.patch_embd.weight.1";
            _views[name] = new WeightTensor(name, conv.Type, [patch, patch, channels, outputs], _patchSlices.Pointer + t * sliceBytes);
        }
        _patchKernelSplit = true;
    }

    /// <summary>The converter's name for a Hugging Face vision tensor, or null for anything outside the tower.</summary>
    string? GgufTensorName(string hfName)
    {
        var prefix = VisionPrefix().Match(hfName);
        if (!prefix.Success)
            return null;
        string name = hfName[prefix.Length..];
        switch (name)
        {
            case "patch_embed.proj.weight": return "v.patch_embd.conv3d";
            case "patch_embed.proj.bias": return "v.patch_embd.bias";
            case "pos_embed.weight": return "v.position_embd.weight";
        }
        var block = BlockTensor().Match(name);
        if (block.Success)
            return BlockTensorNames.TryGetValue(block.Groups["path"].Value, out string? mapped) ? $"v.blk.{block.Groups["block"].Value}.{mapped}.{block.Groups["kind"].Value}" : null;
        var merger = MergerTensor().Match(name);
        if (merger.Success)
        {
            string part = MergerPartNames[merger.Groups["part"].Value], kind = merger.Groups["kind"].Value;
            if (!merger.Groups["index"].Success)
                return part == "norm" ? $"v.post_ln.{kind}" : $"{(part == "fc1" ? "mm.0" : "mm.2")}.{kind}";
            int index = int.Parse(merger.Groups["index"].Value);
            return index < _deepstackBlocks.Length ? $"v.deepstack.{_deepstackBlocks[index]}.{part}.{kind}" : null;
        }
        return null;
    }

    static readonly Dictionary<string, string> BlockTensorNames = new(StringComparer.Ordinal)
    {
        ["norm1"] = "ln1",
        ["norm2"] = "ln2",
        ["attn.qkv"] = "attn_qkv",
        ["attn.proj"] = "attn_out",
        ["mlp.linear_fc1"] = "ffn_up",
        ["mlp.linear_fc2"] = "ffn_down",
    };

    static readonly Dictionary<string, string> MergerPartNames = new(StringComparer.Ordinal)
    {
        ["norm"] = "norm",
        ["linear_fc1"] = "fc1",
        ["linear_fc2"] = "fc2",
    };

    [GeneratedRegex(@"^(model\.)?visual\.")]
    private static partial Regex VisionPrefix();

    [GeneratedRegex(@"^blocks\.(?<block>\d+)\.(?<path>.+)\.(?<kind>weight|bias)$")]
    private static partial Regex BlockTensor();

    [GeneratedRegex(@"^(merger|deepstack_merger_list\.(?<index>\d+))\.(?<part>norm|linear_fc1|linear_fc2)\.(?<kind>weight|bias)$")]
    private static partial Regex MergerTensor();

    public override void Dispose()
    {
        foreach (var file in _files)
            file.Dispose();
        _patchSlices.Dispose();
    }
}
