using ModelGrid.Engine.Models.Blocks;

namespace ModelGrid.Engine.Models.Architectures;

/// <summary>
/// Qwen3.5 hybrid (<c>qwen35</c>, and <c>qwen35moe</c> with routed + shared experts): Gated DeltaNet linear-attention
/// layers, with a gated full-attention layer at every <c>full_attention_interval</c>-th position (partial RoPE, q/k
/// RMSNorm, sigmoid output gate). Multi-token-prediction layers that files append after the trunk are not run.
/// </summary>
public static class Qwen35
{
    public static DecoderModel Load(ModelSource source, ModelOptions options)
    {
        var config = TransformerConfig.FromMetadata(source.Metadata);
        var metadata = source.Metadata;
        string arch = config.Architecture;
        int trunk = config.BlockCount - (int)(metadata.TryGetInteger($"{arch}.nextn_predict_layers") ?? 0);
        if (trunk < 1)
            throw new ModelFormatException($"{source.Name}: {arch}.nextn_predict_layers leaves no trunk layers out of {config.BlockCount}");
        bool[] recurrent = RecurrentLayers(source, config);
        var shape = DeltaNetShape(source, config);
        bool hf = source.HasHuggingFaceConventions;

        // Hugging Face stores these norms zero-centered (applied as 1 + w); GGUF conversion already added the 1.
        float[] Norm(string name, long length)
        {
            float[] weight = QwenDecoder.Vector(source, name, length);
            if (hf)
                for (int i = 0; i < weight.Length; i++)
                    weight[i] += 1;
            return weight;
        }

        return QwenDecoder.Build(source, config, options, layer => new DecoderLayer(
                Norm($"blk.{layer}.attn_norm.weight", config.EmbeddingLength),
                recurrent[layer]
                    ? DeltaNet(source, config, shape, layer)
                    : QwenDecoder.Attention(source, config, layer, AttentionExtras.QueryKeyNorms | AttentionExtras.GatedOutput, Norm),
                Norm($"blk.{layer}.post_attention_norm.weight", config.EmbeddingLength),
                arch == "qwen35moe" ? Experts(source, config, layer) : QwenDecoder.Mlp(source, config, layer)),
            layerCount: trunk, norm: Norm);
    }

    static bool[] RecurrentLayers(ModelSource source, TransformerConfig config)
    {
        string arch = config.Architecture;
        if (source.Metadata.TryGetBoolArray($"{arch}.attention.recurrent_layers") is { } flags)
            return flags.Length == config.BlockCount
                ? flags
                : throw new ModelFormatException(
                    $"{source.Name}: {arch}.attention.recurrent_layers lists {flags.Length} layers but block_count is {config.BlockCount}");
        long interval = source.Metadata.TryGetInteger($"{arch}.full_attention_interval")
            ?? throw new ModelFormatException($"{source.Name}: neither {arch}.attention.recurrent_layers nor {arch}.full_attention_interval says which layers are linear attention");
        if (interval < 1)
            throw new ModelFormatException($"{source.Name}: {arch}.full_attention_interval must be positive, not {interval}");
        return Enumerable.Range(0, config.BlockCount).Select(i => (i + 1) % interval != 0).ToArray();
    }

    static GatedDeltaNetShape DeltaNetShape(ModelSource source, TransformerConfig config)
    {
        var metadata = source.Metadata;
        string arch = config.Architecture;
        int Get(string key)
        {
            long value = metadata.GetInteger($"{arch}.{key}");
            return value is > 0 and <= 1 << 16 ? (int)value : throw new ModelFormatException($"{source.Name}: {arch}.{key} = {value} is out of range");
        }
        int keyHeads = Get("ssm.group_count"), valueHeads = Get("ssm.time_step_rank");
        int keyDim = Get("ssm.state_size"), inner = Get("ssm.inner_size");
        if (valueHeads % keyHeads != 0 || inner % valueHeads != 0)
            throw new ModelFormatException(
                $"{source.Name}: inconsistent linear-attention heads: {valueHeads} value heads over {keyHeads} key heads, inner size {inner}");
        return new GatedDeltaNetShape(keyHeads, valueHeads, keyDim, inner / valueHeads, Get("ssm.conv_kernel"),
            GroupedValueHeads: source.HasHuggingFaceConventions);
    }

    static GatedDeltaNet DeltaNet(ModelSource source, TransformerConfig config, GatedDeltaNetShape shape, int layer)
    {
        long width = config.EmbeddingLength;
        int valueHeads = shape.ValueHeads, valueWidth = valueHeads * shape.ValueDim;
        string p = $"blk.{layer}.";
        float[] decay = QwenDecoder.Vector(source, p + "ssm_a", valueHeads);
        if (source.HasHuggingFaceConventions)
            for (int i = 0; i < decay.Length; i++)
                decay[i] = -MathF.Exp(decay[i]); // the checkpoint stores A_log
        var convolution = source.GetTensor(p + "ssm_conv1d.weight");
        if (convolution.RowLength * convolution.RowCount != (long)shape.ConvKernel * shape.Channels)
            throw new ModelFormatException(
                $"{source.Name}: tensor '{p}ssm_conv1d.weight' holds {convolution.RowLength * convolution.RowCount} values, expected {shape.ConvKernel} taps x {shape.Channels} channels");
        var weights = new GatedDeltaNetWeights(
            QueryKeyValue: source.GetTensor(p + "attn_qkv.weight", width, shape.Channels),
            OutputGate: source.GetTensor(p + "attn_gate.weight", width, valueWidth),
            Beta: source.GetTensor(p + "ssm_beta.weight", width, valueHeads),
            Alpha: source.GetTensor(p + "ssm_alpha.weight", width, valueHeads),
            DecayRate: decay,
            TimeStepBias: QwenDecoder.Vector(source, p + "ssm_dt.bias", valueHeads),
            Convolution: convolution.ToFloats(),
            Norm: QwenDecoder.Vector(source, p + "ssm_norm.weight", shape.ValueDim),
            Output: source.GetTensor(p + "ssm_out.weight", valueWidth, width));
        return new GatedDeltaNet(layer, weights, shape, config.RmsEpsilon);
    }

    static MixtureOfExperts Experts(ModelSource source, TransformerConfig config, int layer)
    {
        long width = config.EmbeddingLength;
        long hidden = source.Metadata.TryGetInteger($"{config.Architecture}.expert_shared_feed_forward_length") ?? config.FeedForwardLength;
        string p = $"blk.{layer}.";
        var gate = source.GetTensor(p + "ffn_gate_inp_shexp.weight");
        if (gate.RowLength != width || gate.RowCount != 1)
            throw new ModelFormatException($"{source.Name}: tensor '{gate.Name}' should be one row of {width} values");
        var shared = new SharedExpert(new SwiGluFeedForward(
            source.GetTensor(p + "ffn_gate_shexp.weight", width, hidden),
            source.GetTensor(p + "ffn_up_shexp.weight", width, hidden),
            source.GetTensor(p + "ffn_down_shexp.weight", hidden, width)), gate);
        return QwenDecoder.Experts(source, config, layer, shared);
    }
}
