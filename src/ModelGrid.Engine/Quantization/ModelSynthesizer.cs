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
        yield return Matrix("token_embd.weight", e, v);
        yield return Norm("output_norm.weight", e);
        if (!preset.TiedEmbeddings)
            yield return Matrix("output.weight", e, v);
        for (int layer = 0; layer < preset.BlockCount; layer++)
        {
            string p = $"blk.{layer}.";
            yield return Norm(p + "attn_norm.weight", e);
            if (preset.LinearAttention is { } linear)
            {
                yield return Norm(p + "post_attention_norm.weight", e);
                if (IsRecurrent(preset, layer))
                {
                    long keyWidth = linear.KeyHeads * linear.KeyDim, valueWidth = linear.ValueHeads * linear.ValueDim;
                    yield return Matrix(p + "attn_qkv.weight", e, 2 * keyWidth + valueWidth);
                    yield return Matrix(p + "attn_gate.weight", e, valueWidth);
                    yield return Matrix(p + "ssm_beta.weight", e, linear.ValueHeads);
                    yield return Matrix(p + "ssm_alpha.weight", e, linear.ValueHeads);
                    // Decay rates -exp(A_log) with A_log ~ log U(1, 16) as the checkpoint initializes them, small dt biases.
                    yield return Generated(p + "ssm_a", [linear.ValueHeads], (ref RowRandom random, Span<float> row) =>
                    {
                        foreach (ref float value in row)
                            value = -(1 + 15 * random.Uniform());
                    });
                    yield return Random(p + "ssm_dt.bias", [linear.ValueHeads], 0.1f, 0);
                    yield return Random(p + "ssm_conv1d.weight", [linear.ConvKernel, 2 * keyWidth + valueWidth], 0.2f, 0);
                    yield return Norm(p + "ssm_norm.weight", linear.ValueDim);
                    yield return Matrix(p + "ssm_out.weight", valueWidth, e);
                }
                else
                {
                    yield return Matrix(p + "attn_q.weight", e, 2 * heads * hd); // query and per-head output gate
                    yield return Matrix(p + "attn_k.weight", e, kvHeads * hd);
                    yield return Matrix(p + "attn_v.weight", e, kvHeads * hd);
                    yield return Norm(p + "attn_q_norm.weight", hd);
                    yield return Norm(p + "attn_k_norm.weight", hd);
                    yield return Matrix(p + "attn_output.weight", heads * hd, e);
                }
            }
            else
            {
                yield return Norm(p + "ffn_norm.weight", e);
                yield return Matrix(p + "attn_q.weight", e, heads * hd);
                yield return Matrix(p + "attn_k.weight", e, kvHeads * hd);
                yield return Matrix(p + "attn_v.weight", e, kvHeads * hd);
                yield return Matrix(p + "attn_output.weight", heads * hd, e);
                if (preset.Architecture == "qwen2")
                {
                    yield return Random(p + "attn_q.bias", [heads * hd], WeightStd, 0);
                    yield return Random(p + "attn_k.bias", [kvHeads * hd], WeightStd, 0);
                    yield return Random(p + "attn_v.bias", [kvHeads * hd], WeightStd, 0);
                }
                else
                {
                    yield return Norm(p + "attn_q_norm.weight", hd);
                    yield return Norm(p + "attn_k_norm.weight", hd);
                }
            }

            if (preset.ExpertCount > 0)
            {
                long n = preset.ExpertCount, ff = preset.ExpertFeedForwardLength;
                yield return Matrix(p + "ffn_gate_inp.weight", e, n);
                yield return Random(p + "ffn_gate_exps.weight", [e, ff, n], WeightStd, 0);
                yield return Random(p + "ffn_up_exps.weight", [e, ff, n], WeightStd, 0);
                yield return Random(p + "ffn_down_exps.weight", [ff, e, n], WeightStd, 0);
                if (preset.SharedExpertFeedForwardLength > 0)
                {
                    long shared = preset.SharedExpertFeedForwardLength;
                    yield return Random(p + "ffn_gate_inp_shexp.weight", [e], WeightStd, 0);
                    yield return Matrix(p + "ffn_gate_shexp.weight", e, shared);
                    yield return Matrix(p + "ffn_up_shexp.weight", e, shared);
                    yield return Matrix(p + "ffn_down_shexp.weight", shared, e);
                }
            }
            else
            {
                long ff = preset.FeedForwardLength;
                yield return Matrix(p + "ffn_gate.weight", e, ff);
                yield return Matrix(p + "ffn_up.weight", e, ff);
                yield return Matrix(p + "ffn_down.weight", ff, e);
            }
        }

        SourceTensor Matrix(string name, long columns, long rows) => Random(name, [columns, rows], WeightStd, 0);
        SourceTensor Norm(string name, long length) => Random(name, [length], 0.05f, 1);
        SourceTensor Random(string name, long[] dims, float std, float mean) => Generated(name, dims, (ref RowRandom random, Span<float> row) =>
        {
            foreach (ref float value in row)
                value = mean + std * random.Normal();
        });
        SourceTensor Generated(string name, long[] dims, RowFill fill)
        {
            ulong tensorKey = seed ^ Fnv1a(name);
            return new SourceTensor(name, dims, GgmlType.F32, (row, destination) =>
            {
                var random = new RowRandom(tensorKey, (ulong)row);
                fill(ref random, destination);
            });
        }
    }

    delegate void RowFill(ref RowRandom random, Span<float> row);

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
