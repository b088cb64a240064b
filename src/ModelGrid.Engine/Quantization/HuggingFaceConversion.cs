using System.Text.RegularExpressions;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>
/// The tensors of a Hugging Face folder as llama.cpp's converter (convert_hf_to_gguf.py, conversion/qwen.py) writes
/// them: per-expert matrices stacked into <c>ffn_*_exps</c>, fused <c>gate_up_proj</c> split, and for Qwen3.5 the
/// checkpoint conventions rewritten (norms stored zero-centered get +1, <c>A_log</c> becomes <c>-exp(A_log)</c>, value
/// heads reordered from grouped to tiled, the [C,1,K] convolution squeezed). Tensors not quantized become F32.
/// </summary>
static partial class HuggingFaceConversion
{
    public static IEnumerable<SourceTensor> Tensors(ModelSource source)
    {
        bool qwen35 = source.Architecture is "qwen35" or "qwen35moe";
        var heads = qwen35 ? ValueHeads.FromMetadata(source) : null;
        var perExpert = new Dictionary<string, SortedDictionary<int, WeightTensor>>(StringComparer.Ordinal);
        foreach (string name in source.TensorNames)
        {
            var weight = source.GetTensor(name);
            var expert = ExpertName().Match(name);
            if (expert.Success)
            {
                string stacked = expert.Groups["stack"].Value + ".weight";
                if (!perExpert.TryGetValue(stacked, out var experts))
                    perExpert[stacked] = experts = [];
                experts[int.Parse(expert.Groups["expert"].Value)] = weight;
            }
            else if (name.EndsWith(".ffn_gate_up_exps.weight", StringComparison.Ordinal))
            {
                long rows = weight.Dimensions[1] / 2;
                yield return Halves(weight, name.Replace("gate_up", "gate"), 0, rows);
                yield return Halves(weight, name.Replace("gate_up", "up"), rows, rows);
            }
            else
                yield return qwen35 ? Qwen35Tensor(weight, heads!) : Float(name, weight.Dimensions, weight.DequantizeRow);
        }
        foreach (var (name, experts) in perExpert)
            yield return Stack(name, experts.Values.ToArray());
    }

    static SourceTensor Float(string name, long[] dimensions, RowReader read) => new(name, dimensions, GgmlType.F32, read);

    // Experts E of a [n, 2·ff, in] stack keep rows [first, first + rows) of their 2·ff.
    static SourceTensor Halves(WeightTensor fused, string name, long first, long rows)
    {
        long fusedRows = fused.Dimensions[1];
        return Float(name, [fused.Dimensions[0], rows, .. fused.Dimensions[2..]],
            (row, destination) => fused.DequantizeRow(row / rows * fusedRows + first + row % rows, destination));
    }

    static SourceTensor Stack(string name, WeightTensor[] experts)
    {
        var first = experts[0];
        foreach (var expert in experts)
            if (!expert.Dimensions.AsSpan().SequenceEqual(first.Dimensions))
                throw new ModelFormatException($"experts of '{name}' differ in shape: [{string.Join(", ", expert.Dimensions)}] vs [{string.Join(", ", first.Dimensions)}]");
        long rows = first.RowCount;
        return Float(name, [first.Dimensions[0], rows, experts.Length], (row, destination) => experts[row / rows].DequantizeRow(row % rows, destination));
    }

    static SourceTensor Qwen35Tensor(WeightTensor weight, ValueHeads heads)
    {
        string name = weight.Name;
        string role = name.StartsWith("blk.", StringComparison.Ordinal) ? name[(name.IndexOf('.', 4) + 1)..] : name;
        long[] dims = weight.Dimensions;
        switch (role)
        {
            case "output_norm.weight" or "attn_norm.weight" or "post_attention_norm.weight" or "attn_q_norm.weight" or "attn_k_norm.weight":
                return Float(name, dims, (row, destination) =>
                {
                    weight.DequantizeRow(row, destination);
                    foreach (ref float value in destination)
                        value += 1;
                });
            case "ssm_a":
                return Float(name, dims, (row, destination) =>
                {
                    heads.Reorder(weight, row, destination, width: 1);
                    foreach (ref float value in destination)
                        value = -MathF.Exp(value);
                });
            case "ssm_dt.bias":
                return Float(name, dims, (row, destination) => heads.Reorder(weight, row, destination, width: 1));
            case "attn_qkv.weight":
                return Float(name, dims, (row, destination) => weight.DequantizeRow(heads.SourceRow(row, heads.KeyChannels, heads.ValueDim), destination));
            case "attn_gate.weight":
                return Float(name, dims, (row, destination) => weight.DequantizeRow(heads.SourceRow(row, 0, heads.ValueDim), destination));
            case "ssm_beta.weight" or "ssm_alpha.weight":
                return Float(name, dims, (row, destination) => weight.DequantizeRow(heads.SourceRow(row, 0, 1), destination));
            case "ssm_conv1d.weight":
                // [C, 1, K] in the checkpoint: one row of K taps per channel, the value channels reordered like attn_qkv.
                return Float(name, [dims[0], weight.RowCount], (row, destination) => weight.DequantizeRow(heads.SourceRow(row, heads.KeyChannels, heads.ValueDim), destination));
            case "ssm_out.weight":
                return Float(name, dims, (row, destination) => heads.Reorder(weight, row, destination, width: heads.ValueDim));
            case "ffn_gate_inp_shexp.weight":
                return Float(name, [weight.RowLength * weight.RowCount], weight.DequantizeRow);
            default:
                return Float(name, dims, weight.DequantizeRow);
        }
    }

    /// <summary>
    /// Qwen3.5's value heads: the checkpoint groups them by key head (head h belongs to key head h / r), GGUF tiles them
    /// (head g belongs to key head g % nk), so GGUF head g is checkpoint head (g % nk)·r + g / nk.
    /// </summary>
    sealed record ValueHeads(int KeyHeads, int Count, int ValueDim, int KeyChannels)
    {
        public static ValueHeads FromMetadata(ModelSource source)
        {
            var metadata = source.Metadata;
            string arch = source.Architecture;
            int keyHeads = (int)metadata.GetInteger($"{arch}.ssm.group_count"), count = (int)metadata.GetInteger($"{arch}.ssm.time_step_rank");
            int keyDim = (int)metadata.GetInteger($"{arch}.ssm.state_size"), inner = (int)metadata.GetInteger($"{arch}.ssm.inner_size");
            if (keyHeads <= 0 || count % keyHeads != 0 || inner % count != 0)
                throw new ModelFormatException($"{source.Name}: inconsistent linear-attention heads: {count} value heads over {keyHeads} key heads, inner size {inner}");
            return new ValueHeads(keyHeads, count, inner / count, 2 * keyHeads * keyDim);
        }

        int SourceHead(long head) => (int)(head % KeyHeads * (Count / KeyHeads) + head / KeyHeads);

        /// <summary>The checkpoint row for GGUF row <paramref name="row"/> of a tensor whose rows past <paramref name="offset"/> are value heads of <paramref name="width"/> rows each.</summary>
        public long SourceRow(long row, long offset, int width) =>
            row < offset ? row : offset + (long)SourceHead((row - offset) / width) * width + (row - offset) % width;

        /// <summary>Row <paramref name="row"/> with its columns (value heads of <paramref name="width"/> values) in GGUF order.</summary>
        public void Reorder(WeightTensor weight, long row, Span<float> destination, int width)
        {
            var original = new float[weight.RowLength];
            weight.DequantizeRow(row, original);
            for (int column = 0; column < destination.Length; column++)
                destination[column] = original[(int)SourceRow(column, 0, width)];
        }
    }

    [GeneratedRegex(@"^(?<stack>blk\.\d+\.ffn_(gate|up|down)_exps)\.(?<expert>\d+)\.weight$")]
    private static partial Regex ExpertName();
}
