using System.Globalization;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>One tensor as the type selection sees it: its GGUF name, dimensions (ggml order) and the type it keeps when not quantized.</summary>
public sealed record TensorDescription(string Name, long[] Dimensions, GgmlType KeptType);

/// <summary>
/// The per-tensor type choice of llama.cpp's llama-quantize (<c>llama_tensor_get_type</c> in src/llama-quant.cpp, no
/// importance matrix, no overrides), for the schemes of <see cref="QuantizationScheme"/>: which tensors are quantized at
/// all, the _K_M bumps (output and tied embeddings Q6_K; attn_v/attn_qkv and ffn_down of the "use more bits" layers
/// Q6_K; 8-expert models' attention), and the fallback of rows that do not hold whole 256-value blocks.
/// </summary>
public static class TensorTypeSelector
{
    /// <summary>
    /// Types for <paramref name="tensors"/>, which must be in <see cref="LlamaOrder"/> (the counters of attn_v and
    /// ffn_down advance in that order, as in llama-quantize). <paramref name="layerCount"/> is the block count including
    /// any MTP layers; <paramref name="expertCount"/> is 0 for dense models.
    /// </summary>
    public static GgmlType[] Choose(QuantizationScheme scheme, IReadOnlyList<TensorDescription> tensors, int layerCount, int expertCount)
    {
        var state = new Counters(
            AttentionValueCount: tensors.Count(t => IsAttentionValueLike(Categorize(t.Name))),
            TiedEmbeddings: !tensors.Any(t => Categorize(t.Name) == Category.Output));
        return tensors.Select(t => Choose(scheme, t, layerCount, expertCount, state)).ToArray();
    }

    /// <summary>llama.cpp's tensor order (its loader's weights_map): by layer number (non-layer tensors first), then by name, ordinally.</summary>
    public static IComparer<string> LlamaOrder { get; } = Comparer<string>.Create((a, b) =>
        LayerOf(a) is var layerA && LayerOf(b) is var layerB && layerA != layerB ? layerA.CompareTo(layerB) : string.CompareOrdinal(a, b));

    sealed record Counters(int AttentionValueCount, bool TiedEmbeddings)
    {
        public int AttentionValueIndex;
        public int FeedForwardDownIndex;
    }

    enum Category { Output, TokenEmbedding, AttentionQkv, AttentionValue, AttentionKey, AttentionQuery, AttentionOutput, FeedForwardUp, FeedForwardGate, FeedForwardDown, Other }

    static GgmlType Choose(QuantizationScheme scheme, TensorDescription tensor, int layerCount, int expertCount, Counters state)
    {
        if (!AllowsQuantization(tensor))
            return tensor.KeptType;
        if (!scheme.IsQuantized)
            return scheme.DefaultType;

        var type = scheme.DefaultType;
        var category = Categorize(tensor.Name);
        long rowLength = tensor.Dimensions[0];
        bool moreBitsScheme = scheme == QuantizationScheme.Q4_K_M || scheme == QuantizationScheme.Q5_K_M;
        if (category == Category.Output || (state.TiedEmbeddings && category == Category.TokenEmbedding))
        {
            // The output projection (or the embedding matrix standing in for it) is the most sensitive matrix.
            if (rowLength % GgmlTypeInfo.BlockSize(type) != 0)
                type = GgmlType.Q8_0;
            else if (type != GgmlType.Q8_0)
                type = GgmlType.Q6_K;
        }
        else if (IsAttentionValueLike(category))
        {
            if (moreBitsScheme && UseMoreBits(state.AttentionValueIndex, state.AttentionValueCount))
                type = GgmlType.Q6_K;
            if (expertCount == 8)
                type = GgmlType.Q8_0;
            state.AttentionValueIndex++;
        }
        else if (category == Category.AttentionKey && expertCount == 8)
            type = GgmlType.Q8_0;
        else if (category == Category.FeedForwardDown)
        {
            // With experts, llama.cpp reads the layer from the name (several ffn_down tensors per layer); otherwise it counts.
            int layer = expertCount > 1 ? LayerOf(tensor.Name) : state.FeedForwardDownIndex;
            if (moreBitsScheme && UseMoreBits(layer, layerCount))
                type = GgmlType.Q6_K;
            state.FeedForwardDownIndex++;
        }
        else if (category == Category.AttentionOutput && expertCount == 8 && scheme == QuantizationScheme.Q4_K_M)
            type = GgmlType.Q5_K;
        return Fallback(type, rowLength);
    }

    // llama.cpp's use_more_bits: the first and last eighth of the layers, and every third layer in between.
    static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    // Rows that are not whole blocks of the chosen type take a 32-block type of similar size, or F16.
    static GgmlType Fallback(GgmlType type, long rowLength)
    {
        if (rowLength % GgmlTypeInfo.BlockSize(type) == 0)
            return type;
        var fallback = type switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => type,
        };
        return rowLength % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    // llama.cpp's tensor_allows_quantization, for the tensors Qwen models have: matrices and expert stacks named
    // *weight, except norms, MoE routers, the linear-attention convolution and position tables (its POS_EMBD rule; the
    // mmproj converter likewise keeps a vision tower's v.position_embd F32, which ggml_interpolate requires).
    static bool AllowsQuantization(TensorDescription tensor)
    {
        int dimensions = tensor.Dimensions.Length;
        while (dimensions > 1 && tensor.Dimensions[dimensions - 1] == 1)
            dimensions--;
        string name = tensor.Name;
        return dimensions >= 2 && name.EndsWith("weight", StringComparison.Ordinal) && !name.Contains("_norm.weight", StringComparison.Ordinal)
            && !name.Contains("ffn_gate_inp.weight", StringComparison.Ordinal) && !name.Contains("ssm_conv1d", StringComparison.Ordinal)
            && !name.EndsWith("position_embd.weight", StringComparison.Ordinal);
    }

    static Category Categorize(string name) => name switch
    {
        "output.weight" => Category.Output,
        "token_embd.weight" or "per_layer_token_embd.weight" => Category.TokenEmbedding,
        _ when name.Contains("attn_qkv.weight", StringComparison.Ordinal) => Category.AttentionQkv,
        _ when name.Contains("attn_v.weight", StringComparison.Ordinal) => Category.AttentionValue,
        _ when name.Contains("attn_k.weight", StringComparison.Ordinal) => Category.AttentionKey,
        _ when name.Contains("attn_q.weight", StringComparison.Ordinal) => Category.AttentionQuery,
        _ when name.Contains("attn_output.weight", StringComparison.Ordinal) => Category.AttentionOutput,
        _ when name.Contains("ffn_up", StringComparison.Ordinal) => Category.FeedForwardUp,
        _ when name.Contains("ffn_gate", StringComparison.Ordinal) => Category.FeedForwardGate,
        _ when name.Contains("ffn_down", StringComparison.Ordinal) => Category.FeedForwardDown,
        _ => Category.Other,
    };

    static bool IsAttentionValueLike(Category category) => category is Category.AttentionValue or Category.AttentionQkv;

    static int LayerOf(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal))
            return -1;
        int end = name.IndexOf('.', 4);
        return end > 4 && int.TryParse(name.AsSpan(4, end - 4), NumberStyles.None, CultureInfo.InvariantCulture, out int layer) ? layer : -1;
    }
}
