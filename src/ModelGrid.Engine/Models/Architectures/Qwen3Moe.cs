namespace ModelGrid.Engine.Models.Architectures;

/// <summary>Qwen3 MoE (<c>qwen3moe</c>): Qwen3 attention and a softmax-routed mixture of SwiGLU experts in every layer.</summary>
public static class Qwen3Moe
{
    public static DecoderModel Load(ModelSource source, ModelOptions options)
    {
        var config = TransformerConfig.FromMetadata(source.Metadata);
        return QwenDecoder.Build(source, config, options, layer => QwenDecoder.Layer(source, config, layer,
            QwenDecoder.Attention(source, config, layer, AttentionExtras.QueryKeyNorms),
            QwenDecoder.Experts(source, config, layer)));
    }
}
