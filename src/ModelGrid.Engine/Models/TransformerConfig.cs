using ModelGrid.Engine.Gguf;

namespace ModelGrid.Engine.Models;

/// <summary>The hyper-parameters shared by Qwen's decoder-only transformers, read from <c>{arch}.*</c> metadata.</summary>
public sealed record TransformerConfig
{
    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadDim { get; init; }
    public required int ValueHeadDim { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int ContextLength { get; init; }
    public required double RopeFrequencyBase { get; init; }
    public required float RmsEpsilon { get; init; }
    /// <summary>Leading dimensions of each head that RoPE rotates (partial rotary in Qwen3.5).</summary>
    public required int RotaryDimensions { get; init; }
    /// <summary>M-RoPE sections (t, h, w, ...) of multimodal models, or null for plain RoPE.</summary>
    public int[]? RopeSections { get; init; }
    public int ExpertCount { get; init; }
    public int ExpertsUsed { get; init; }
    public int ExpertFeedForwardLength { get; init; }

    // Far above any real model, low enough that a corrupt header cannot make us allocate absurd buffers.
    const long MaxDimension = 1 << 20;

    public static TransformerConfig FromMetadata(GgufMetadata metadata)
    {
        string arch = metadata.GetString("general.architecture");
        int Get(string key, long? fallback = null, long min = 1)
        {
            long value = metadata.TryGetInteger($"{arch}.{key}") ?? fallback
                ?? throw new ModelFormatException($"{metadata.Source}: metadata '{arch}.{key}' is missing");
            return value >= min && value <= MaxDimension
                ? (int)value
                : throw new ModelFormatException($"{metadata.Source}: metadata '{arch}.{key}' = {value} is out of range [{min}, {MaxDimension}]");
        }
        int embedding = Get("embedding_length");
        int heads = Get("attention.head_count");
        int kvHeads = Get("attention.head_count_kv", heads);
        if (heads % kvHeads != 0)
            throw new ModelFormatException($"{metadata.Source}: attention.head_count {heads} is not a multiple of attention.head_count_kv {kvHeads}");
        int headDim = Get("attention.key_length", embedding / heads);
        int experts = Get("expert_count", 0, min: 0);
        int used = Get("expert_used_count", experts == 0 ? 0 : 1, min: 0);
        if (used > experts)
            throw new ModelFormatException($"{metadata.Source}: expert_used_count {used} exceeds expert_count {experts}");
        return new TransformerConfig
        {
            Architecture = arch,
            EmbeddingLength = embedding,
            BlockCount = Get("block_count", min: 1),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = headDim,
            ValueHeadDim = Get("attention.value_length", headDim),
            FeedForwardLength = Get("feed_forward_length", 0, min: 0),
            ContextLength = Get("context_length", 4096),
            RopeFrequencyBase = metadata.TryGetFloat($"{arch}.rope.freq_base") ?? 10000,
            RmsEpsilon = (float)(metadata.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-6),
            RotaryDimensions = Get("rope.dimension_count", headDim) is var rotary && rotary <= headDim && rotary % 2 == 0
                ? rotary
                : throw new ModelFormatException($"{metadata.Source}: rope.dimension_count {rotary} must be even and at most the head size {headDim}"),
            RopeSections = metadata.TryGetIntegerArray($"{arch}.rope.dimension_sections")?.Select(v => (int)Math.Clamp(v, 0, MaxDimension)).ToArray(),
            ExpertCount = experts,
            ExpertsUsed = used,
            ExpertFeedForwardLength = Get("expert_feed_forward_length", experts == 0 ? 0 : null, min: 0),
        };
    }
}
