using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Vision;

/// <summary>The shape of a vision tower, from a projector's <c>clip.*</c> metadata (Hugging Face configs are translated into it).</summary>
public sealed record VisionConfig(
    string ProjectorType,
    int HiddenSize,
    int FeedForwardLength,
    int BlockCount,
    int HeadCount,
    int PatchSize,
    int MergeSize,
    int ProjectionDim,
    float NormEpsilon,
    int[] DeepstackBlocks)
{
    public int HeadDim => HiddenSize / HeadCount;

    /// <summary>Width of one merged token before the projector: the hidden states of merge × merge patches side by side.</summary>
    public int MergedWidth => HiddenSize * MergeSize * MergeSize;

    /// <summary>Width of each output row: the merger's projection followed by each deepstack merger's.</summary>
    public int EmbeddingWidth => ProjectionDim * (1 + DeepstackBlocks.Length);

    /// <summary>The projector type a file declares (<c>clip.vision.projector_type</c>, else <c>clip.projector_type</c>).</summary>
    public static string ProjectorTypeOf(GgufMetadata metadata) =>
        metadata.TryGetString("clip.vision.projector_type") ?? metadata.TryGetString("clip.projector_type")
        ?? throw new ModelFormatException($"{metadata.Source}: metadata 'clip.projector_type' is missing");

    public static VisionConfig FromMetadata(GgufMetadata metadata)
    {
        string source = metadata.Source;
        int Positive(string key)
        {
            long value = metadata.GetInteger(key);
            return value is > 0 and <= int.MaxValue ? (int)value : throw new ModelFormatException($"{source}: metadata '{key}' = {value} must be positive");
        }
        int hidden = Positive("clip.vision.embedding_length");
        int heads = Positive("clip.vision.attention.head_count");
        int blocks = Positive("clip.vision.block_count");
        if (hidden % heads != 0 || hidden / heads % 4 != 0)
            throw new ModelFormatException($"{source}: hidden size {hidden} over {heads} heads must give a head dimension divisible by 4 (2-D rotary)");
        if (metadata.TryGetBool("clip.use_silu") == true)
            throw new ModelFormatException($"{source}: a SiLU feed-forward (clip.use_silu) is not supported by this tower; it uses GELU");
        bool[] deepstack = metadata.TryGetBoolArray("clip.vision.is_deepstack_layers") ?? new bool[blocks];
        if (deepstack.Length != blocks)
            throw new ModelFormatException($"{source}: clip.vision.is_deepstack_layers has {deepstack.Length} entries for {blocks} blocks");
        return new VisionConfig(
            ProjectorTypeOf(metadata),
            hidden,
            Positive("clip.vision.feed_forward_length"),
            blocks,
            heads,
            Positive("clip.vision.patch_size"),
            metadata.TryGetInteger("clip.vision.spatial_merge_size") is { } merge ? (int)merge : 2,
            Positive("clip.vision.projection_dim"),
            (float)(metadata.TryGetFloat("clip.vision.attention.layer_norm_epsilon") ?? 1e-6),
            Enumerable.Range(0, blocks).Where(i => deepstack[i]).ToArray());
    }
}
