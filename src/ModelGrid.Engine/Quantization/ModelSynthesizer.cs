using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>
/// <c>modelgrid synth</c>: a GGUF file with a real model's shapes and vocabulary and random weights, for benchmarks
/// and load tests. Matrices are Gaussian-like with standard deviation 0.02, norm weights near 1; every row comes from
/// a counter-based generator keyed by (seed, tensor, row), so the file is the same whatever the thread count, and it
/// is generated and quantized row block by row block, never held in memory.
/// </summary>
public static class ModelSynthesizer
{
    const float WeightStd = 0.02f;

    public static IReadOnlyList<WrittenTensor> Synthesize(SynthesisPreset preset, string tokenizerJsonPath, QuantizationScheme scheme, string outputPath,
        ulong seed = 0, QuantizeOptions? options = null)
    {
        var metadata = Metadata(preset).Concat(TokenizerMetadata.FromTokenizerJson(tokenizerJsonPath, preset.VocabularySize));
        return QuantizedGgufWriter.Write(outputPath, metadata, Tensors(preset, seed).ToList(), scheme, preset.BlockCount, preset.ExpertCount, options);
    }

    /// <summary>The <c>general.*</c> and <c>{arch}.*</c> keys llama.cpp's converter writes for this shape.</summary>
    public static IEnumerable<KeyValuePair<string, object>> Metadata(SynthesisPreset preset)
    {
        string arch = preset.Architecture;
        var values = new List<KeyValuePair<string, object>>
        {
            new("general.architecture", arch),
            new("general.name", $"synthetic {arch} {preset.Name}"),
            new($"{arch}.block_count", (uint)preset.BlockCount),
            new($"{arch}.context_length", (uint)preset.ContextLength),
            new($"{arch}.embedding_length", (uint)preset.EmbeddingLength),
            new($"{arch}.feed_forward_length", (uint)preset.FeedForwardLength),
            new($"{arch}.attention.head_count", (uint)preset.HeadCount),
            new($"{arch}.attention.head_count_kv", (uint)preset.KvHeadCount),
            new($"{arch}.rope.freq_base", (float)preset.RopeFrequencyBase),
            new($"{arch}.attention.layer_norm_rms_epsilon", (float)preset.RmsEpsilon),
        };
        if (arch != "qwen2")
        {
            values.Add(new($"{arch}.attention.key_length", (uint)preset.HeadDim));
            values.Add(new($"{arch}.attention.value_length", (uint)preset.HeadDim));
        }
        if (preset.ExpertCount > 0)
        {
            values.Add(new($"{arch}.expert_count", (uint)preset.ExpertCount));
            values.Add(new($"{arch}.expert_used_count", (uint)preset.ExpertsUsed));
            values.Add(new($"{arch}.expert_feed_forward_length", (uint)preset.ExpertFeedForwardLength));
            if (preset.SharedExpertFeedForwardLength > 0)
                values.Add(new($"{arch}.expert_shared_feed_forward_length", (uint)preset.SharedExpertFeedForwardLength));
        }
        if (preset.LinearAttention is { } linear)
        {
            values.Add(new($"{arch}.rope.dimension_count", (uint)preset.RotaryDimensions));
            values.Add(new($"{arch}.rope.dimension_sections", linear.RopeSections));
            values.Add(new($"{arch}.ssm.conv_kernel", (uint)linear.ConvKernel));
            values.Add(new($"{arch}.ssm.state_size", (uint)linear.KeyDim));
            values.Add(new($"{arch}.ssm.group_count", (uint)linear.KeyHeads));
            values.Add(new($"{arch}.ssm.time_step_rank", (uint)linear.ValueHeads));
            values.Add(new($"{arch}.ssm.inner_size", (uint)(linear.ValueHeads * linear.ValueDim)));
            values.Add(new($"{arch}.full_attention_interval", (uint)linear.FullAttentionInterval));
            values.Add(new($"{arch}.attention.recurrent_layers", Enumerable.Range(0, preset.BlockCount).Select(i => IsRecurrent(preset, i)).ToArray()));
        }
        return values;
    }

    static bool IsRecurrent(SynthesisPreset preset, int layer) =>
        preset.LinearAttention is { } linear && (layer + 1) % linear.FullAttentionInterval != 0;

    /// <summary>Every tensor of the model, with random rows.</summary>
    public static IEnumerable<SourceTensor> Tensors(SynthesisPreset preset, ulong seed)
    {
        long e = preset.EmbeddingLength, v = preset.VocabularySize, hd = preset.HeadDim;
        long heads = preset.HeadCount, kvHeads = preset.KvHeadCount;
        var random = new RandomTensors(seed);
        yield return random.Matrix("token_embd.weight", e, v);
        yield return random.Norm("output_norm.weight", e);
        if (!preset.TiedEmbeddings)
            yield return random.Matrix("output.weight", e, v);
        for (int layer = 0; layer < preset.BlockCount; layer++)
        {
            string p = $"blk.{layer}.";
            yield return random.Norm(p + "attn_norm.weight", e);
            if (preset.LinearAttention is { } linear)
            {
                yield return random.Norm(p + "post_attention_norm.weight", e);
                if (IsRecurrent(preset, layer))
                {
                    long keyWidth = linear.KeyHeads * linear.KeyDim, valueWidth = linear.ValueHeads * linear.ValueDim;
                    yield return random.Matrix(p + "attn_qkv.weight", e, 2 * keyWidth + valueWidth);
                    yield return random.Matrix(p + "attn_gate.weight", e, valueWidth);
                    yield return random.Matrix(p + "ssm_beta.weight", e, linear.ValueHeads);
                    yield return random.Matrix(p + "ssm_alpha.weight", e, linear.ValueHeads);
                    // Decay rates -exp(A_log) with A_log ~ log U(1, 16) as the checkpoint initializes them, small dt biases.
                    yield return random.Generated(p + "ssm_a", [linear.ValueHeads], (ref RowRandom generator, Span<float> row) =>
                    {
                        foreach (ref float value in row)
                            value = -(1 + 15 * generator.Uniform());
                    });
                    yield return random.Gaussian(p + "ssm_dt.bias", [linear.ValueHeads], 0.1f, 0);
                    yield return random.Gaussian(p + "ssm_conv1d.weight", [linear.ConvKernel, 2 * keyWidth + valueWidth], 0.2f, 0);
                    yield return random.Norm(p + "ssm_norm.weight", linear.ValueDim);
                    yield return random.Matrix(p + "ssm_out.weight", valueWidth, e);
                }
                else
                {
                    yield return random.Matrix(p + "attn_q.weight", e, 2 * heads * hd); // query and per-head output gate
                    yield return random.Matrix(p + "attn_k.weight", e, kvHeads * hd);
                    yield return random.Matrix(p + "attn_v.weight", e, kvHeads * hd);
                    yield return random.Norm(p + "attn_q_norm.weight", hd);
                    yield return random.Norm(p + "attn_k_norm.weight", hd);
                    yield return random.Matrix(p + "attn_output.weight", heads * hd, e);
                }
            }
            else
            {
                yield return random.Norm(p + "ffn_norm.weight", e);
                yield return random.Matrix(p + "attn_q.weight", e, heads * hd);
                yield return random.Matrix(p + "attn_k.weight", e, kvHeads * hd);
                yield return random.Matrix(p + "attn_v.weight", e, kvHeads * hd);
                yield return random.Matrix(p + "attn_output.weight", heads * hd, e);
                if (preset.Architecture == "qwen2")
                {
                    yield return random.Bias(p + "attn_q.bias", heads * hd);
                    yield return random.Bias(p + "attn_k.bias", kvHeads * hd);
                    yield return random.Bias(p + "attn_v.bias", kvHeads * hd);
                }
                else
                {
                    yield return random.Norm(p + "attn_q_norm.weight", hd);
                    yield return random.Norm(p + "attn_k_norm.weight", hd);
                }
            }

            if (preset.ExpertCount > 0)
            {
                long n = preset.ExpertCount, ff = preset.ExpertFeedForwardLength;
                yield return random.Matrix(p + "ffn_gate_inp.weight", e, n);
                yield return random.Gaussian(p + "ffn_gate_exps.weight", [e, ff, n], WeightStd, 0);
                yield return random.Gaussian(p + "ffn_up_exps.weight", [e, ff, n], WeightStd, 0);
                yield return random.Gaussian(p + "ffn_down_exps.weight", [ff, e, n], WeightStd, 0);
                if (preset.SharedExpertFeedForwardLength > 0)
                {
                    long shared = preset.SharedExpertFeedForwardLength;
                    yield return random.Gaussian(p + "ffn_gate_inp_shexp.weight", [e], WeightStd, 0);
                    yield return random.Matrix(p + "ffn_gate_shexp.weight", e, shared);
                    yield return random.Matrix(p + "ffn_up_shexp.weight", e, shared);
                    yield return random.Matrix(p + "ffn_down_shexp.weight", shared, e);
                }
            }
            else
            {
                long ff = preset.FeedForwardLength;
                yield return random.Matrix(p + "ffn_gate.weight", e, ff);
                yield return random.Matrix(p + "ffn_up.weight", e, ff);
                yield return random.Matrix(p + "ffn_down.weight", ff, e);
            }
        }
    }

    /// <summary>
    /// An mmproj GGUF for <paramref name="preset"/>'s vision tower (projector <c>qwen3vl_merger</c>) with random weights,
    /// in the layout llama.cpp's converter writes (see <see cref="ProjectorTensors"/>).
    /// </summary>
    public static IReadOnlyList<WrittenTensor> SynthesizeProjector(SynthesisPreset preset, QuantizationScheme scheme, string outputPath,
        ulong seed = 0, QuantizeOptions? options = null)
    {
        var vision = VisionOf(preset);
        // The kernel's rows are 16 values, too short for any block format, so a quantized file keeps it F16 (the type
        // selection's fallback for the first slice; the second slice, ".weight.1", is not a "weight" to it and is kept).
        var patchKernelType = scheme.IsQuantized ? GgmlType.F16 : scheme.DefaultType;
        return QuantizedGgufWriter.Write(outputPath, ProjectorMetadata(preset), ProjectorTensors(preset, seed, patchKernelType).ToList(), scheme,
            vision.Depth, 0, options);
    }

    static VisionTowerShape VisionOf(SynthesisPreset preset)
    {
        var vision = preset.Vision ?? throw new ArgumentException(
            $"no vision tower shape is known for {preset.Architecture} {preset.Name} (known: {string.Join(", ", SynthesisPreset.All.Where(p => p.Vision is not null).Select(p => $"{p.Architecture} {p.Name}"))})");
        // The GGUF layout splits the Conv3d kernel into exactly two 2-D slices (llama.cpp's converter refuses other sizes).
        if (vision.TemporalPatchSize != 2)
            throw new ArgumentException($"temporal patch size {vision.TemporalPatchSize}: an mmproj file holds exactly 2 temporal slices");
        if (vision.PositionSide * vision.PositionSide != vision.PositionEmbeddings)
            throw new ArgumentException($"num_position_embeddings {vision.PositionEmbeddings} is not a square");
        return vision;
    }

    /// <summary>The <c>general.*</c> and <c>clip.*</c> keys llama.cpp's converter writes for a Qwen3-VL / Qwen3.5 vision tower.</summary>
    public static IEnumerable<KeyValuePair<string, object>> ProjectorMetadata(SynthesisPreset preset)
    {
        var vision = VisionOf(preset);
        float[] halves = [0.5f, 0.5f, 0.5f]; // image_mean and image_std of the Qwen3-VL / Qwen3.5 preprocessor_config.json
        return
        [
            new("general.architecture", "clip"),
            new("general.type", "mmproj"),
            new("general.name", $"synthetic {preset.Architecture} {preset.Name} vision"),
            new("clip.has_vision_encoder", true),
            new("clip.vision.projection_dim", (uint)preset.EmbeddingLength),
            // The converter derives image_size from the position table: its side in patches times the patch size.
            new("clip.vision.image_size", (uint)(vision.PositionSide * vision.PatchSize)),
            new("clip.vision.patch_size", (uint)vision.PatchSize),
            new("clip.vision.embedding_length", (uint)vision.HiddenSize),
            new("clip.vision.feed_forward_length", (uint)vision.FeedForwardLength),
            new("clip.vision.block_count", (uint)vision.Depth),
            new("clip.vision.attention.head_count", (uint)vision.HeadCount),
            new("clip.vision.image_mean", halves),
            new("clip.vision.image_std", halves),
            new("clip.projector_type", "qwen3vl_merger"),
            new("clip.use_gelu", true),
            new("clip.vision.spatial_merge_size", (uint)vision.SpatialMergeSize),
            new("clip.vision.attention.layer_norm_epsilon", (float)preset.RmsEpsilon),
            new("clip.vision.is_deepstack_layers", Enumerable.Range(0, vision.Depth).Select(i => vision.DeepstackIndexes.Contains(i)).ToArray()),
        ];
    }

    /// <summary>
    /// Every tensor of the vision tower, named as llama.cpp's converter names them: the Conv3d patch kernel as two
    /// temporal slices, the learned position table, the blocks (LayerNorm, fused qkv, GELU MLP, all with biases), the
    /// merger (<c>v.post_ln</c>, <c>mm.0</c>, <c>mm.2</c>) and one deepstack merger per deepstack index. The kernel
    /// slices keep <paramref name="patchKernelType"/>, both alike, as the converter writes them.
    /// </summary>
    public static IEnumerable<SourceTensor> ProjectorTensors(SynthesisPreset preset, ulong seed, GgmlType patchKernelType = GgmlType.F16)
    {
        var vision = VisionOf(preset);
        long d = vision.HiddenSize, ff = vision.FeedForwardLength, merged = vision.MergedWidth, output = preset.EmbeddingLength;
        var random = new RandomTensors(seed);
        long[] patchKernel = [vision.PatchSize, vision.PatchSize, 3, d];
        yield return random.Gaussian("v.patch_embd.weight", patchKernel, WeightStd, 0) with { KeptType = patchKernelType };
        yield return random.Gaussian("v.patch_embd.weight.1", patchKernel, WeightStd, 0) with { KeptType = patchKernelType };
        yield return random.Bias("v.patch_embd.bias", d);
        yield return random.Matrix("v.position_embd.weight", d, vision.PositionEmbeddings);
        for (int block = 0; block < vision.Depth; block++)
        {
            string p = $"v.blk.{block}.";
            foreach (string norm in (string[])["ln1", "ln2"])
            {
                yield return random.Norm(p + norm + ".weight", d);
                yield return random.Bias(p + norm + ".bias", d);
            }
            foreach (var (name, columns, rows) in new (string, long, long)[] { ("attn_qkv", d, 3 * d), ("attn_out", d, d), ("ffn_up", d, ff), ("ffn_down", ff, d) })
            {
                yield return random.Matrix(p + name + ".weight", columns, rows);
                yield return random.Bias(p + name + ".bias", rows);
            }
        }
        foreach (var merger in MergerTensors(random, "v.post_ln", "mm.0", "mm.2", d, merged, output))
            yield return merger;
        foreach (int block in vision.DeepstackIndexes)
            foreach (var merger in MergerTensors(random, $"v.deepstack.{block}.norm", $"v.deepstack.{block}.fc1", $"v.deepstack.{block}.fc2", merged, merged, output))
                yield return merger;
    }

    /// <summary>LayerNorm (over a patch for the main merger, over a merged token for deepstack), fc1 keeping the merged width, fc2 to the text width.</summary>
    static IEnumerable<SourceTensor> MergerTensors(RandomTensors random, string norm, string fc1, string fc2, long normWidth, long merged, long output) =>
    [
        random.Norm(norm + ".weight", normWidth),
        random.Bias(norm + ".bias", normWidth),
        random.Matrix(fc1 + ".weight", merged, merged),
        random.Bias(fc1 + ".bias", merged),
        random.Matrix(fc2 + ".weight", merged, output),
        random.Bias(fc2 + ".bias", output),
    ];

    /// <summary>Random tensors keyed by (seed, name): matrices of standard deviation <see cref="WeightStd"/>, norm weights near 1.</summary>
    sealed class RandomTensors(ulong seed)
    {
        public SourceTensor Matrix(string name, long columns, long rows) => Gaussian(name, [columns, rows], WeightStd, 0);

        public SourceTensor Norm(string name, long length) => Gaussian(name, [length], 0.05f, 1);

        public SourceTensor Bias(string name, long length) => Gaussian(name, [length], WeightStd, 0);

        public SourceTensor Gaussian(string name, long[] dims, float std, float mean) => Generated(name, dims, (ref RowRandom generator, Span<float> row) =>
        {
            foreach (ref float value in row)
                value = mean + std * generator.Normal();
        });

        public SourceTensor Generated(string name, long[] dims, RowFill fill)
        {
            ulong tensorKey = seed ^ Fnv1a(name);
            return new SourceTensor(name, dims, GgmlType.F32, (row, destination) =>
            {
                var generator = new RowRandom(tensorKey, (ulong)row);
                fill(ref generator, destination);
            });
        }
    }

    delegate void RowFill(ref RowRandom generator, Span<float> row);

    // A stable name hash: string.GetHashCode is randomized per process, and the file must not depend on the run.
    static ulong Fnv1a(string text)
    {
        ulong hash = 14695981039346656037;
        foreach (char c in text)
            hash = (hash ^ c) * 1099511628211;
        return hash;
    }

    /// <summary>SplitMix64 from (tensor, row): cheap, statistically fine for weights, and independent of thread scheduling.</summary>
    struct RowRandom(ulong tensorKey, ulong row)
    {
        ulong _state = tensorKey * 0x9E3779B97F4A7C15 + row * 0xD1B54A32D192ED69;

        ulong Next()
        {
            ulong z = _state += 0x9E3779B97F4A7C15;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
            return z ^ (z >> 31);
        }

        public float Uniform() => (Next() >> 40) * (1f / (1 << 24));

        /// <summary>Irwin–Hall of four 16-bit uniforms, rescaled to mean 0 and variance 1: bell-shaped, bounded by ±3.46.</summary>
        public float Normal()
        {
            ulong bits = Next();
            float sum = (bits & 0xFFFF) + (bits >> 16 & 0xFFFF) + (bits >> 32 & 0xFFFF) + (bits >> 48);
            return (sum * (1f / 65536) - 2f) * 1.7320508f;
        }
    }
}
