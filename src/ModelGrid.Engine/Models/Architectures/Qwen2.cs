namespace ModelGrid.Engine.Models.Architectures;

/// <summary>Qwen2 / Qwen2.5 (<c>qwen2</c>): GQA attention with q/k/v biases, SwiGLU MLP.</summary>
public static class Qwen2
{
    public static DecoderModel Load(ModelSource source, ModelOptions options)
    {
        var config = TransformerConfig.FromMetadata(source.Metadata);
        return QwenDecoder.Build(source, config, options, layer => QwenDecoder.Layer(source, config, layer,
            QwenDecoder.Attention(source, config, layer, AttentionExtras.Biases),
            QwenDecoder.Mlp(source, config, layer)));
    }
}
