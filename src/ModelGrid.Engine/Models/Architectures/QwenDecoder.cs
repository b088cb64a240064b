using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Models.Blocks;

namespace ModelGrid.Engine.Models.Architectures;

[Flags]
enum AttentionExtras
{
    None = 0,
    Biases = 1,
    QueryKeyNorms = 2,
    /// <summary>Qwen3.5: the query projection also yields a per-head output gate.</summary>
    GatedOutput = 4,
}

/// <summary>The blocks Qwen's decoder architectures share, loaded by their GGUF tensor names.</summary>
static class QwenDecoder
{
    public static DecoderModel Build(ModelSource source, TransformerConfig config, ModelOptions options, Func<int, DecoderLayer> layer,
        int? layerCount = null, Func<string, long, float[]>? norm = null)
    {
        long width = config.EmbeddingLength;
        var embeddings = source.GetTensor("token_embd.weight");
        if (embeddings.RowLength != width)
            throw new ModelFormatException($"{source.Name}: tensor 'token_embd.weight' rows have {embeddings.RowLength} values, expected {width}");
        // Tied embeddings: without output.weight the embedding matrix doubles as the output projection.
        var output = source.FindTensor("output.weight", width, embeddings.RowCount) ?? embeddings;
        var layers = Enumerable.Range(0, layerCount ?? config.BlockCount).Select(layer).ToList();
        return new DecoderModel(config.Architecture, options.ContextLength is { } n ? Math.Min(n, config.ContextLength) : config.ContextLength,
            embeddings, layers, (norm ?? ((name, length) => Vector(source, name, length)))("output_norm.weight", width), output, config.RmsEpsilon, options.Threads);
    }

    public static float[] Vector(ModelSource source, string name, long length) => source.GetTensor(name, length).ToFloats();

    /// <summary>A pre-norm layer around <paramref name="mixer"/> and <paramref name="feedForward"/>, with the standard norm names.</summary>
    public static DecoderLayer Layer(ModelSource source, TransformerConfig config, int layer, ITokenMixer mixer, IFeedForward feedForward) => new(
        Vector(source, $"blk.{layer}.attn_norm.weight", config.EmbeddingLength), mixer,
        Vector(source, $"blk.{layer}.ffn_norm.weight", config.EmbeddingLength), feedForward);

    /// <summary>GQA self-attention with the extras the architecture requires: q/k/v biases (Qwen2) or per-head q/k RMSNorm (Qwen3).</summary>
    public static Attention Attention(ModelSource source, TransformerConfig config, int layer, AttentionExtras extras,
        Func<string, long, float[]>? norm = null)
    {
        long width = config.EmbeddingLength;
        int heads = config.HeadCount, kvHeads = config.KvHeadCount, headDim = config.HeadDim, valueDim = config.ValueHeadDim;
        string p = $"blk.{layer}.";
        var weights = new AttentionWeights(
            Query: source.GetTensor(p + "attn_q.weight", width, heads * headDim * (extras.HasFlag(AttentionExtras.GatedOutput) ? 2 : 1)),
            Key: source.GetTensor(p + "attn_k.weight", width, kvHeads * headDim),
            Value: source.GetTensor(p + "attn_v.weight", width, kvHeads * valueDim),
            Output: source.GetTensor(p + "attn_output.weight", heads * valueDim, width),
            QueryBias: Extra(AttentionExtras.Biases, p + "attn_q.bias", heads * headDim),
            KeyBias: Extra(AttentionExtras.Biases, p + "attn_k.bias", kvHeads * headDim),
            ValueBias: Extra(AttentionExtras.Biases, p + "attn_v.bias", kvHeads * valueDim),
            QueryNorm: Extra(AttentionExtras.QueryKeyNorms, p + "attn_q_norm.weight", headDim),
            KeyNorm: Extra(AttentionExtras.QueryKeyNorms, p + "attn_k_norm.weight", headDim),
            GatedOutput: extras.HasFlag(AttentionExtras.GatedOutput));
        float[]? Extra(AttentionExtras needed, string name, long length) =>
            !extras.HasFlag(needed) ? null : needed == AttentionExtras.QueryKeyNorms && norm is not null ? norm(name, length) : Vector(source, name, length);
        if (weights.GatedOutput && valueDim != headDim)
            throw new ModelFormatException($"{source.Name}: a gated attention layer needs equal key and value head sizes ({headDim} vs {valueDim})");
        return new Attention(layer, weights, heads, kvHeads, headDim, valueDim, new Rope(config.RotaryDimensions, config.RopeFrequencyBase, config.RopeSections), config.RmsEpsilon);
    }

    public static SwiGluFeedForward Mlp(ModelSource source, TransformerConfig config, int layer)
    {
        long width = config.EmbeddingLength, hidden = config.FeedForwardLength;
        string p = $"blk.{layer}.";
        return new SwiGluFeedForward(
            source.GetTensor(p + "ffn_gate.weight", width, hidden),
            source.GetTensor(p + "ffn_up.weight", width, hidden),
            source.GetTensor(p + "ffn_down.weight", hidden, width));
    }

    /// <summary>Routed experts (stacked <c>ffn_*_exps</c> tensors) behind a softmax router <c>ffn_gate_inp</c>.</summary>
    public static MixtureOfExperts Experts(ModelSource source, TransformerConfig config, int layer, SharedExpert? shared = null)
    {
        long width = config.EmbeddingLength, hidden = config.ExpertFeedForwardLength;
        int count = config.ExpertCount;
        if (count == 0 || config.ExpertsUsed == 0)
            throw new ModelFormatException($"{source.Name}: {config.Architecture}.expert_count and expert_used_count must be positive for a mixture-of-experts model");
        string p = $"blk.{layer}.";
        var gates = source.GetExperts(p + "ffn_gate_exps.weight", count, width, hidden);
        var ups = source.GetExperts(p + "ffn_up_exps.weight", count, width, hidden);
        var downs = source.GetExperts(p + "ffn_down_exps.weight", count, hidden, width);
        var experts = Enumerable.Range(0, count).Select(e => new SwiGluFeedForward(gates[e], ups[e], downs[e])).ToArray();
        return new MixtureOfExperts(source.GetTensor(p + "ffn_gate_inp.weight", width, count), experts, config.ExpertsUsed, shared);
    }
}
