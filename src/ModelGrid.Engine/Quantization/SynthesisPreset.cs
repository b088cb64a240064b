namespace ModelGrid.Engine.Quantization;

/// <summary>Qwen3.5's Gated DeltaNet (linear-attention) dimensions: key/value heads and sizes, the causal convolution length, and the full-attention period.</summary>
public sealed record LinearAttentionShape(int KeyHeads, int ValueHeads, int KeyDim, int ValueDim, int ConvKernel, int FullAttentionInterval, int[] RopeSections);

/// <summary>
/// A Qwen3-VL / Qwen3.5 vision tower (the <c>vision_config</c> of a Hugging Face config.json), written as an mmproj GGUF
/// with projector <c>qwen3vl_merger</c>. Its output width (<c>out_hidden_size</c>) is the text model's embedding width.
/// </summary>
public sealed record VisionTowerShape(
    int Depth,
    int HiddenSize,
    int HeadCount,
    int FeedForwardLength,
    int PatchSize,
    int SpatialMergeSize,
    int TemporalPatchSize,
    int PositionEmbeddings,
    int[] DeepstackIndexes)
{
    /// <summary>Width of one merged token: the hidden states of merge × merge patches side by side.</summary>
    public int MergedWidth => HiddenSize * SpatialMergeSize * SpatialMergeSize;

    /// <summary>Side of the square learned position table, in patches (sqrt of <see cref="PositionEmbeddings"/>).</summary>
    public int PositionSide => (int)Math.Round(Math.Sqrt(PositionEmbeddings));
}

/// <summary>
/// The shape of a model to synthesize: the hyper-parameters of a public config.json, in GGUF terms.
/// <see cref="SharedExpertFeedForwardLength"/> and <see cref="LinearAttention"/> apply to Qwen3.5 only.
/// </summary>
public sealed record SynthesisPreset
{
    public required string Architecture { get; init; }
    public required string Name { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadDim { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int VocabularySize { get; init; }
    public required int ContextLength { get; init; }
    public required double RopeFrequencyBase { get; init; }
    public required bool TiedEmbeddings { get; init; }
    public double RmsEpsilon { get; init; } = 1e-6;
    /// <summary>Leading dimensions of each head that RoPE rotates; 0 for all of them.</summary>
    public int RotaryDimensions { get; init; }
    public int ExpertCount { get; init; }
    public int ExpertsUsed { get; init; }
    public int ExpertFeedForwardLength { get; init; }
    public int SharedExpertFeedForwardLength { get; init; }
    public LinearAttentionShape? LinearAttention { get; init; }
    /// <summary>The vision tower that comes with the model, for <c>modelgrid synth --mmproj-out</c>; null when unknown.</summary>
    public VisionTowerShape? Vision { get; init; }

    /// <summary>The presets <c>modelgrid synth</c> knows, keyed by architecture and size ("qwen3", "0.6b").</summary>
    public static IReadOnlyList<SynthesisPreset> All { get; } = BuildPresets();

    public static SynthesisPreset Find(string architecture, string name) =>
        All.FirstOrDefault(p => p.Architecture == architecture && string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(All.Any(p => p.Architecture == architecture)
            ? $"no preset '{name}' for {architecture} (known: {string.Join(", ", All.Where(p => p.Architecture == architecture).Select(p => p.Name))})"
            : $"unknown architecture '{architecture}' (known: {string.Join(", ", All.Select(p => p.Architecture).Distinct())})");

    static SynthesisPreset[] BuildPresets()
    {
        // Qwen3 dense, from the config.json of Qwen/Qwen3-0.6B, Qwen/Qwen3-1.7B and Qwen/Qwen3-4B on Hugging Face:
        // head_dim 128, rope_theta 1e6, rms_norm_eps 1e-6, max_position_embeddings 40960, vocab_size 151936, tied embeddings.
        SynthesisPreset Qwen3(string name, int hidden, int layers, int heads, int kvHeads, int ffn) => new()
        {
            Architecture = "qwen3",
            Name = name,
            EmbeddingLength = hidden,
            BlockCount = layers,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = 128,
            FeedForwardLength = ffn,
            VocabularySize = 151936,
            ContextLength = 40960,
            RopeFrequencyBase = 1e6,
            TiedEmbeddings = true,
        };
        // Qwen2.5 (the qwen2 architecture), from Qwen/Qwen2.5-{0.5B,1.5B,3B,7B} config.json: head_dim = hidden / heads,
        // q/k/v biases, rope_theta 1e6; the 7B unties its embeddings and has vocab_size 152064.
        SynthesisPreset Qwen2(string name, int hidden, int layers, int heads, int kvHeads, int ffn, bool tied, int vocabulary, int context) => new()
        {
            Architecture = "qwen2",
            Name = name,
            EmbeddingLength = hidden,
            BlockCount = layers,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = hidden / heads,
            FeedForwardLength = ffn,
            VocabularySize = vocabulary,
            ContextLength = context,
            RopeFrequencyBase = 1e6,
            TiedEmbeddings = tied,
        };
        // Qwen3.5 dense, from the text_config of Qwen/Qwen3.5-{0.8B,2B,4B}: head_dim 256, partial_rotary_factor 0.25
        // (64 rotary dims), mrope_section [11, 11, 10], rope_theta 1e7, linear_key_head_dim = linear_value_head_dim = 128,
        // linear_num_key_heads 16, linear_conv_kernel_dim 4, full_attention_interval 4, vocab_size 248320,
        // max_position_embeddings 262144, tied embeddings. (Their MTP layer is not synthesized.)
        SynthesisPreset Qwen35(string name, int hidden, int layers, int heads, int kvHeads, int ffn, int valueHeads, bool tied = true) => new()
        {
            Architecture = "qwen35",
            Name = name,
            EmbeddingLength = hidden,
            BlockCount = layers,
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = 256,
            RotaryDimensions = 64,
            FeedForwardLength = ffn,
            VocabularySize = 248320,
            ContextLength = 262144,
            RopeFrequencyBase = 1e7,
            TiedEmbeddings = tied,
            LinearAttention = new LinearAttentionShape(KeyHeads: 16, valueHeads, KeyDim: 128, ValueDim: 128, ConvKernel: 4, FullAttentionInterval: 4, [11, 11, 10, 0]),
        };
        return
        [
            Qwen3("0.6b", 1024, 28, 16, 8, 3072),
            Qwen3("1.7b", 2048, 28, 16, 8, 6144),
            Qwen3("4b", 2560, 36, 32, 8, 9728),
            // Qwen/Qwen3-30B-A3B config.json: hidden 2048, 48 layers, 32 heads / 4 KV heads of 128, 128 experts (8 used)
            // of moe_intermediate_size 768, untied embeddings.
            new()
            {
                Architecture = "qwen3moe", Name = "30b-a3b", EmbeddingLength = 2048, BlockCount = 48, HeadCount = 32, KvHeadCount = 4, HeadDim = 128,
                FeedForwardLength = 6144, VocabularySize = 151936, ContextLength = 40960, RopeFrequencyBase = 1e6, TiedEmbeddings = false,
                ExpertCount = 128, ExpertsUsed = 8, ExpertFeedForwardLength = 768,
            },
            Qwen2("0.5b", 896, 24, 14, 2, 4864, tied: true, 151936, 32768),
            Qwen2("1.5b", 1536, 28, 12, 2, 8960, tied: true, 151936, 32768),
            Qwen2("3b", 2048, 36, 16, 2, 11008, tied: true, 151936, 32768),
            Qwen2("7b", 3584, 28, 28, 4, 18944, tied: false, 152064, 131072),
            // vision_config of Qwen/Qwen3.5-0.8B: depth 12, hidden_size 768, num_heads 12, intermediate_size 3072
            // (gelu_pytorch_tanh), patch_size 16, spatial_merge_size 2, temporal_patch_size 2, num_position_embeddings
            // 2304 (48 x 48), out_hidden_size 1024 (= the text width), deepstack_visual_indexes [].
            Qwen35("0.8b", 1024, 24, 8, 2, 3584, valueHeads: 16) with { Vision = new VisionTowerShape(12, 768, 12, 3072, 16, 2, 2, 2304, []) },
            Qwen35("2b", 2048, 24, 8, 2, 6144, valueHeads: 16),
            // vision_config of Qwen/Qwen3.5-4B: depth 24, hidden_size 1024, num_heads 16, intermediate_size 4096, patch 16,
            // merge 2, temporal patch 2, num_position_embeddings 2304, out_hidden_size 2560, deepstack_visual_indexes [].
            Qwen35("4b", 2560, 32, 16, 4, 9216, valueHeads: 32) with { Vision = new VisionTowerShape(24, 1024, 16, 4096, 16, 2, 2, 2304, []) },
            // Qwen/Qwen3.5-35B-A3B text_config: hidden 2048, 40 layers, 16 heads / 2 KV heads, 256 experts (8 used) of
            // moe_intermediate_size 512 plus a shared expert of 512, 32 linear value heads, untied embeddings.
            Qwen35("35b-a3b", 2048, 40, 16, 2, 512, valueHeads: 32, tied: false) with
            {
                Architecture = "qwen35moe", ExpertCount = 256, ExpertsUsed = 8, ExpertFeedForwardLength = 512, SharedExpertFeedForwardLength = 512,
            },
        ];
    }
}
