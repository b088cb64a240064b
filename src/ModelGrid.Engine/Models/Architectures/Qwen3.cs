namespace ModelGrid.Engine.Models.Architectures;

/// <summary>Qwen3 dense (<c>qwen3</c>): GQA attention with per-head RMSNorm on q and k, SwiGLU MLP.</summary>
public static class Qwen3
{
    public static DecoderModel Load(ModelSource source, ModelOptions options)
    {
        var config = TransformerConfig.FromMetadata(source.Metadata);
        return QwenDecoder.Build(source, config, options, layer => QwenDecoder.Layer(source, config, layer,
            QwenDecoder.Attention(source, config, layer, AttentionExtras.QueryKeyNorms),
            QwenDecoder.Mlp(source, config, layer)));
    }
}
