using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Quantization;
using ModelGrid.Engine.Tensors;
using ModelGrid.Engine.Tests.Vision;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Quantization;

public sealed class ModelSynthesizerTests : IDisposable
{
    readonly string _directory = Directory.CreateTempSubdirectory("modelgrid-synth-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    // A small vocabulary keeps the files small: the tiny golden model's tokenizer.json.
    static string TokenizerPath => Directory.GetFiles(Golden.Path("models"), "tokenizer.json", SearchOption.AllDirectories).Order().First();

    /// <summary>Each architecture's first preset, shrunk to test size but keeping its structure (tied or not, experts, hybrid layers).</summary>
    public static TheoryData<string, string> Architectures()
    {
        var data = new TheoryData<string, string>();
        foreach (var architecture in SynthesisPreset.All.Select(p => p.Architecture).Distinct())
            foreach (var scheme in new[] { "F16", "Q8_0", "Q4_K_M" })
                data.Add(architecture, scheme);
        return data;
    }

    static SynthesisPreset Tiny(string architecture, int vocabulary)
    {
        var preset = SynthesisPreset.All.First(p => p.Architecture == architecture);
        return preset with
        {
            EmbeddingLength = 256,
            BlockCount = 4,
            HeadCount = 4,
            KvHeadCount = 2,
            HeadDim = 64,
            FeedForwardLength = 512,
            VocabularySize = vocabulary,
            ContextLength = 512,
            RotaryDimensions = preset.LinearAttention is null ? 0 : 16,
            ExpertCount = preset.ExpertCount > 0 ? 4 : 0,
            ExpertsUsed = preset.ExpertCount > 0 ? 2 : 0,
            ExpertFeedForwardLength = preset.ExpertCount > 0 ? 256 : 0,
            SharedExpertFeedForwardLength = preset.SharedExpertFeedForwardLength > 0 ? 256 : 0,
            LinearAttention = preset.LinearAttention is null ? null : new LinearAttentionShape(2, 4, 32, 32, 4, 4, [3, 3, 2, 0]),
        };
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Synthesized_model_has_the_preset_shape_and_vocabulary_and_loads(string architecture, string scheme)
    {
        var tokenizer = Text.Tokenization.ByteLevelBpeTokenizer.FromTokenizerJson(TokenizerPath);
        int vocabulary = (tokenizer.VocabularySize + 63) / 64 * 64 + 64; // padded as real models pad theirs
        var preset = Tiny(architecture, vocabulary);
        string output = Path.Combine(_directory, $"{architecture}-{scheme}.gguf");
        var written = ModelSynthesizer.Synthesize(preset, TokenizerPath, QuantizationScheme.Parse(scheme), output, seed: 7);

        using var file = GgufFile.Open(output);
        var metadata = file.Metadata;
        Assert.Equal(architecture, file.Architecture);
        Assert.Equal(preset.BlockCount, metadata.GetInteger($"{architecture}.block_count"));
        Assert.Equal(preset.EmbeddingLength, metadata.GetInteger($"{architecture}.embedding_length"));
        Assert.Equal(QuantizationScheme.Parse(scheme).FileType, metadata.GetInteger("general.file_type"));
        var tokens = metadata.TryGetStringArray("tokenizer.ggml.tokens")!;
        Assert.Equal(vocabulary, tokens.Length);
        Assert.Equal(tokenizer.TokenText(tokenizer.VocabularySize - 1), tokens[tokenizer.VocabularySize - 1]);
        Assert.Equal($"[PAD{vocabulary - 1}]", tokens[^1]);
        Assert.Equal(vocabulary, file.GetTensor("token_embd.weight").Dimensions[1]);
        Assert.Equal(written.Select(t => (t.Name, t.Type)), file.Tensors.Select(t => (t.Name, t.Type)));
        Assert.All(file.Tensors.Where(t => t.Dimensions.Length == 1), t => Assert.Equal(GgmlType.F32, t.Type));
        if (scheme == "Q4_K_M")
        {
            Assert.Equal(GgmlType.Q6_K, file.GetTensor(preset.TiedEmbeddings ? "token_embd.weight" : "output.weight").Type);
            Assert.Contains(file.Tensors, t => t.Type == GgmlType.Q4_K);
        }

        using var source = ModelSource.Open(output);
        using var decoder = ModelRegistry.Load(source, new ModelOptions { Threads = 2 });
        Assert.Equal(vocabulary, decoder.VocabSize);
        using var sequence = decoder.CreateSequence();
        var batch = new ForwardBatch();
        batch.Add(sequence, tokenizer.Encode("Hello, world", parseSpecialTokens: true), logitsForAll: false);
        var logits = new float[vocabulary];
        decoder.Forward(batch, logits);
        Assert.All(logits, value => Assert.True(float.IsFinite(value)));
        Assert.True(logits.Max() > logits.Min(), "random weights should give distinct logits");
    }

    [Fact]
    public void Output_depends_on_the_seed_but_not_on_the_thread_count()
    {
        var preset = Tiny("qwen3", 2048);
        string one = Path.Combine(_directory, "one.gguf"), two = Path.Combine(_directory, "two.gguf"), other = Path.Combine(_directory, "other.gguf");
        ModelSynthesizer.Synthesize(preset, TokenizerPath, QuantizationScheme.Q4_K_M, one, seed: 1, new QuantizeOptions { Threads = 1 });
        ModelSynthesizer.Synthesize(preset, TokenizerPath, QuantizationScheme.Q4_K_M, two, seed: 1, new QuantizeOptions { Threads = 3 });
        ModelSynthesizer.Synthesize(preset, TokenizerPath, QuantizationScheme.Q4_K_M, other, seed: 2, new QuantizeOptions { Threads = 2 });
        Assert.Equal(File.ReadAllBytes(one), File.ReadAllBytes(two));
        Assert.NotEqual(File.ReadAllBytes(one), File.ReadAllBytes(other));
    }

    [Fact]
    public void Matrices_have_the_requested_spread_and_norms_are_near_one()
    {
        var tensors = ModelSynthesizer.Tensors(Tiny("qwen3", 2048), seed: 3).ToDictionary(t => t.Name);
        var row = new float[256];
        tensors["blk.0.ffn_up.weight"].ReadRow(5, row);
        double mean = row.Average(), std = Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average());
        Assert.InRange(std, 0.015, 0.025);
        Assert.InRange(mean, -0.005, 0.005);
        tensors["blk.0.attn_norm.weight"].ReadRow(0, row);
        Assert.All(row, v => Assert.InRange(v, 0.8f, 1.2f));
    }

    /// <summary>
    /// The 0.8B tower narrowed to test size (about 100M weights otherwise) with its structure kept — patch and merge
    /// sizes, temporal slices — plus a deepstack merger, which Qwen3-VL towers have and Qwen3.5's do not.
    /// </summary>
    static SynthesisPreset TinyVision()
    {
        var real = SynthesisPreset.Find("qwen35", "0.8b");
        return real with
        {
            EmbeddingLength = 96,
            Vision = real.Vision! with { Depth = 3, HiddenSize = 64, HeadCount = 2, FeedForwardLength = 128, PositionEmbeddings = 36, DeepstackIndexes = [1] },
        };
    }

    [Theory]
    [InlineData("F16")]
    [InlineData("Q8_0")]
    public void Synthesized_projector_loads_in_the_vision_encoder_with_the_preset_shape(string scheme)
    {
        var preset = TinyVision();
        var shape = preset.Vision!;
        string output = Path.Combine(_directory, $"mmproj-{scheme}.gguf");
        ModelSynthesizer.SynthesizeProjector(preset, QuantizationScheme.Parse(scheme), output, seed: 5);

        using (var file = GgufFile.Open(output))
        {
            Assert.Equal("clip", file.Architecture);
            Assert.Equal("qwen3vl_merger", file.Metadata.TryGetString("clip.projector_type"));
            Assert.Equal(shape.PositionSide * shape.PatchSize, file.Metadata.GetInteger("clip.vision.image_size"));
            Assert.Equal(QuantizationScheme.Parse(scheme).FileType, file.Metadata.GetInteger("general.file_type"));
            Assert.All(file.Tensors.Where(t => t.Dimensions.Length == 1), t => Assert.Equal(GgmlType.F32, t.Type));
            Assert.Equal(QuantizationScheme.Parse(scheme).DefaultType, file.GetTensor("mm.0.weight").Type);
            Assert.Equal(QuantizationScheme.Parse(scheme).DefaultType, file.GetTensor($"v.blk.{shape.Depth - 1}.attn_qkv.weight").Type);
            Assert.Equal(GgmlType.F16, file.GetTensor("v.patch_embd.weight").Type);
            Assert.Equal(GgmlType.F16, file.GetTensor("v.patch_embd.weight.1").Type);
            Assert.Equal(GgmlType.F32, file.GetTensor("v.position_embd.weight").Type); // llama.cpp interpolates it in F32 only
        }

        using var encoder = VisionEncoder.Load(output, threads: 2);
        var config = encoder.Config;
        Assert.Equal("qwen3vl_merger", config.ProjectorType);
        Assert.Equal(
            (shape.Depth, shape.HiddenSize, shape.HeadCount, shape.FeedForwardLength, shape.PatchSize, shape.SpatialMergeSize, preset.EmbeddingLength),
            (config.BlockCount, config.HiddenSize, config.HeadCount, config.FeedForwardLength, config.PatchSize, config.MergeSize, config.ProjectionDim));
        Assert.Equal(shape.DeepstackIndexes, config.DeepstackBlocks);
        Assert.Equal((float)preset.RmsEpsilon, config.NormEpsilon);

        var image = encoder.Preprocess(VisionTestImages.Read("photo.png"));
        var embedding = encoder.Encode(image);
        Assert.Equal(image.GridWidth * image.GridHeight, embedding.TokenCount);
        Assert.Equal(preset.EmbeddingLength * (1 + shape.DeepstackIndexes.Length), embedding.Width);
        Assert.All(embedding.Embeddings, value => Assert.True(float.IsFinite(value)));
        Assert.True(embedding.Embeddings.Max() > embedding.Embeddings.Min(), "random weights should give distinct embeddings");
    }

    [Theory]
    [InlineData("0.8b")]
    [InlineData("4b")]
    public void Projector_metadata_carries_the_presets_vision_config(string name)
    {
        var preset = SynthesisPreset.Find("qwen35", name);
        var shape = preset.Vision!;
        var metadata = ModelSynthesizer.ProjectorMetadata(preset).ToDictionary();
        Assert.Equal((uint)shape.Depth, metadata["clip.vision.block_count"]);
        Assert.Equal((uint)shape.HiddenSize, metadata["clip.vision.embedding_length"]);
        Assert.Equal((uint)shape.HeadCount, metadata["clip.vision.attention.head_count"]);
        Assert.Equal((uint)shape.FeedForwardLength, metadata["clip.vision.feed_forward_length"]);
        Assert.Equal((uint)shape.PatchSize, metadata["clip.vision.patch_size"]);
        Assert.Equal((uint)shape.SpatialMergeSize, metadata["clip.vision.spatial_merge_size"]);
        Assert.Equal((uint)preset.EmbeddingLength, metadata["clip.vision.projection_dim"]);
        Assert.Equal(shape.Depth, ((bool[])metadata["clip.vision.is_deepstack_layers"]).Length);
        var tensors = ModelSynthesizer.ProjectorTensors(preset, seed: 0).ToDictionary(t => t.Name);
        Assert.Equal([shape.HiddenSize, shape.PositionEmbeddings], tensors["v.position_embd.weight"].Dimensions);
        Assert.Equal([shape.MergedWidth, preset.EmbeddingLength], tensors["mm.2.weight"].Dimensions);
        Assert.Equal(shape.Depth, tensors.Keys.Count(n => n.EndsWith(".attn_qkv.weight", StringComparison.Ordinal)));
    }

    [Fact]
    public void Projector_of_a_preset_without_a_vision_tower_is_refused_by_name()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelSynthesizer.ProjectorMetadata(SynthesisPreset.Find("qwen3", "0.6b")).ToList());
        Assert.Contains("qwen3 0.6b", error.Message);
        Assert.Contains("qwen35 0.8b", error.Message);
    }

    [Fact]
    public void Unknown_preset_lists_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => SynthesisPreset.Find("qwen3", "70b"));
        Assert.Contains("0.6b", error.Message);
    }
}
