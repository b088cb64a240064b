using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// The Qwen3-VL / Qwen3.5 vision tower with its <c>qwen3vl_merger</c> projector (Hugging Face
/// <c>Qwen3VLVisionModel</c>, llama.cpp <c>clip_graph_qwen3vl</c>). Patches are kept in merge-block order — for each
/// merged token in row-major order, its merge × merge patches row by row — so that a merged token is a contiguous run
/// of rows; the transformer blocks do not care about the order, only the positions do.
/// </summary>
internal sealed unsafe class Qwen3VisionTower : IVisionTower
{
    const double RotaryBase = 10000.0;

    sealed record Block(
        float[] Norm1Weight, float[] Norm1Bias, WeightTensor Qkv, float[] QkvBias, WeightTensor Output, float[] OutputBias,
        float[] Norm2Weight, float[] Norm2Bias, WeightTensor Up, float[] UpBias, WeightTensor Down, float[] DownBias);

    /// <summary>LayerNorm, fc1, GELU, fc2: over each patch before merging (the merger) or over each merged token (deepstack).</summary>
    sealed record Merger(float[] NormWeight, float[] NormBias, WeightTensor Fc1, float[] Fc1Bias, WeightTensor Fc2, float[] Fc2Bias);

    readonly RowBlocks _rows;
    readonly PatchMatMul _matMul;
    readonly PatchAttention _attention;
    readonly NativeBuffer<float> _patchKernel = new();
    readonly WeightTensor _patchEmbedding;
    readonly float[] _patchBias;
    readonly float[] _positionTable;
    readonly int _positionSide;
    readonly Block[] _blocks;
    readonly Merger _merger;
    readonly Merger[] _deepstack;
    readonly float[] _inverseFrequencies;

    readonly NativeBuffer<float> _patches = new();
    readonly NativeBuffer<float> _hidden = new();
    readonly NativeBuffer<float> _normed = new();
    readonly NativeBuffer<float> _qkv = new();
    readonly NativeBuffer<float> _mixed = new();
    readonly NativeBuffer<float> _residual = new();
    readonly NativeBuffer<float> _feedForward = new();
    readonly NativeBuffer<float> _merged = new();

    public Qwen3VisionTower(ModelSource source, VisionConfig config, WorkerPool pool)
    {
        Config = config;
        _rows = new RowBlocks(pool);
        _matMul = new PatchMatMul(pool);
        _attention = new PatchAttention(pool);
        int d = config.HiddenSize;

        _patchEmbedding = LoadPatchKernel(source, config);
        _patchBias = source.GetTensor("v.patch_embd.bias", d).ToFloats();
        var positions = source.GetTensor("v.position_embd.weight");
        _positionSide = (int)Math.Round(Math.Sqrt(positions.RowCount));
        if (positions.Dimensions.Length != 2 || positions.RowLength != d || (long)_positionSide * _positionSide != positions.RowCount)
            throw new ModelFormatException(
                $"{source.Name}: v.position_embd.weight has shape [{string.Join(", ", positions.Dimensions)}], expected [{d}, side²] (a square table)");
        _positionTable = positions.ToFloats();

        _blocks = new Block[config.BlockCount];
        for (int i = 0; i < _blocks.Length; i++)
        {
            string b = $"v.blk.{i}";
            _blocks[i] = new Block(
                Vector(source, $"{b}.ln1.weight", d), Vector(source, $"{b}.ln1.bias", d),
                source.GetTensor($"{b}.attn_qkv.weight", d, 3 * d), Vector(source, $"{b}.attn_qkv.bias", 3 * d),
                source.GetTensor($"{b}.attn_out.weight", d, d), Vector(source, $"{b}.attn_out.bias", d),
                Vector(source, $"{b}.ln2.weight", d), Vector(source, $"{b}.ln2.bias", d),
                source.GetTensor($"{b}.ffn_up.weight", d, config.FeedForwardLength), Vector(source, $"{b}.ffn_up.bias", config.FeedForwardLength),
                source.GetTensor($"{b}.ffn_down.weight", config.FeedForwardLength, d), Vector(source, $"{b}.ffn_down.bias", d));
        }
        _merger = LoadMerger(source, config, "v.post_ln", "mm.0", "mm.2", d);
        _deepstack = config.DeepstackBlocks
            .Select(i => LoadMerger(source, config, $"v.deepstack.{i}.norm", $"v.deepstack.{i}.fc1", $"v.deepstack.{i}.fc2", config.MergedWidth))
            .ToArray();

        // 2-D rotary over half of each head: the first half of its frequencies turn with the patch row, the second with the column.
        int perAxis = config.HeadDim / 4;
        _inverseFrequencies = new float[perAxis];
        for (int i = 0; i < perAxis; i++)
            _inverseFrequencies[i] = (float)Math.Pow(RotaryBase, -2.0 * i / (2 * perAxis));
    }

    public VisionConfig Config { get; }

    static float[] Vector(ModelSource source, string name, long length) => source.GetTensor(name, length).ToFloats();

    /// <summary>
    /// The patch embedding as one [3·p·p → hidden] matrix: the Conv3d's temporal slices summed, because a still image
    /// is the same frame in each slice (llama.cpp runs one 2-D convolution per slice on the same image and adds them).
    /// </summary>
    WeightTensor LoadPatchKernel(ModelSource source, VisionConfig config)
    {
        long[] dims = [config.PatchSize, config.PatchSize, 3, config.HiddenSize];
        float[] kernel = source.GetTensor("v.patch_embd.weight", dims).ToFloats();
        if (source.FindTensor("v.patch_embd.weight.1", dims) is { } second)
            TensorPrimitives.Add(kernel, second.ToFloats(), kernel);
        _patchKernel.EnsureCapacity(kernel.Length);
        kernel.CopyTo(_patchKernel.Span);
        int rowLength = 3 * config.PatchSize * config.PatchSize;
        return new WeightTensor("v.patch_embd (temporal slices summed)", GgmlType.F32, [rowLength, config.HiddenSize], (byte*)_patchKernel.Pointer);
    }

    static Merger LoadMerger(ModelSource source, VisionConfig config, string norm, string fc1, string fc2, int normWidth)
    {
        var first = source.GetTensor($"{fc1}.weight");
        if (first.Dimensions.Length != 2 || first.RowLength != config.MergedWidth)
            throw new ModelFormatException($"{source.Name}: {fc1}.weight has shape [{string.Join(", ", first.Dimensions)}], expected [{config.MergedWidth}, n]");
        int inner = checked((int)first.RowCount);
        return new Merger(
            Vector(source, $"{norm}.weight", normWidth), Vector(source, $"{norm}.bias", normWidth),
            first, Vector(source, $"{fc1}.bias", inner),
            source.GetTensor($"{fc2}.weight", inner, config.ProjectionDim), Vector(source, $"{fc2}.bias", config.ProjectionDim));
    }

    public ImageEmbedding Encode(PreprocessedImage image, VisionStageCallback? observe)
    {
        var config = Config;
        int d = config.HiddenSize, merge = config.MergeSize, group = merge * merge;
        int columns = image.PatchColumns, rows = image.PatchRows, n = image.PatchCount, tokens = n / group;
        var (patchRow, patchColumn) = MergeBlockOrder(columns, rows, merge);

        GatherPatches(image, patchRow, patchColumn);
        _hidden.EnsureCapacity((long)n * d);
        Project(_patchEmbedding, _patchBias, _patches.Pointer, n, _hidden.Pointer);
        AddPositionEmbedding(patchRow, patchColumn, columns, rows);
        observe?.Invoke("inp_pos_emb", View(_hidden, (long)n * d));

        var (cos, sin) = RotaryTables(patchRow, patchColumn);
        int width = config.EmbeddingWidth, projection = config.ProjectionDim;
        var output = new float[(long)tokens * width];
        for (int i = 0; i < _blocks.Length; i++)
        {
            RunBlock(_blocks[i], n, cos, sin, i == 0 ? observe : null);
            observe?.Invoke($"layer_out-{i}", View(_hidden, (long)n * d));
            int deepstack = Array.IndexOf(config.DeepstackBlocks, i);
            if (deepstack >= 0)
                RunMerger(_deepstack[deepstack], tokens, normBeforeMerge: false, output, (1 + deepstack) * projection);
        }
        RunMerger(_merger, tokens, normBeforeMerge: true, output, 0);
        return new ImageEmbedding(output, image.GridWidth, image.GridHeight, projection, config.DeepstackBlocks.Length);
    }

    /// <summary>Row and column in the full patch grid of each patch, in merge-block order.</summary>
    static (int[] Row, int[] Column) MergeBlockOrder(int columns, int rows, int merge)
    {
        var row = new int[columns * rows];
        var column = new int[columns * rows];
        int index = 0;
        for (int mergedRow = 0; mergedRow < rows / merge; mergedRow++)
            for (int mergedColumn = 0; mergedColumn < columns / merge; mergedColumn++)
                for (int dy = 0; dy < merge; dy++)
                    for (int dx = 0; dx < merge; dx++, index++)
                    {
                        row[index] = mergedRow * merge + dy;
                        column[index] = mergedColumn * merge + dx;
                    }
        return (row, column);
    }

    /// <summary>Each patch's pixels as one row [channel][y][x], the order of the convolution kernel's weights.</summary>
    void GatherPatches(PreprocessedImage image, int[] patchRow, int[] patchColumn)
    {
        int p = Config.PatchSize, rowLength = 3 * p * p, width = image.Width, plane = image.Width * image.Height;
        _patches.EnsureCapacity((long)patchRow.Length * rowLength);
        var pixels = image.Pixels;
        for (int i = 0; i < patchRow.Length; i++)
        {
            var target = _patches.Slice((long)i * rowLength, rowLength);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < p; y++)
                    pixels.AsSpan(c * plane + (patchRow[i] * p + y) * width + patchColumn[i] * p, p).CopyTo(target.Slice((c * p + y) * p, p));
        }
    }

    /// <summary>
    /// Adds the learned side × side position table, bilinearly resampled to the patch grid with the corners aligned
    /// (Hugging Face's <c>fast_pos_embed_interpolate</c>: sample points <c>linspace(0, side - 1, n)</c>).
    /// </summary>
    void AddPositionEmbedding(int[] patchRow, int[] patchColumn, int columns, int rows)
    {
        int d = Config.HiddenSize, side = _positionSide;
        var scratch = new float[d];
        for (int i = 0; i < patchRow.Length; i++)
        {
            var (top, bottom, dy) = SamplePoint(patchRow[i], rows, side);
            var (left, right, dx) = SamplePoint(patchColumn[i], columns, side);
            var target = _hidden.Slice((long)i * d, d);
            AddScaled(target, top * side + left, (1 - dy) * (1 - dx));
            AddScaled(target, top * side + right, (1 - dy) * dx);
            AddScaled(target, bottom * side + left, dy * (1 - dx));
            AddScaled(target, bottom * side + right, dy * dx);
        }

        void AddScaled(Span<float> target, int entry, float weight)
        {
            TensorPrimitives.Multiply(_positionTable.AsSpan(entry * d, d), weight, scratch);
            TensorPrimitives.Add(target, scratch, target);
        }
    }

    static (int Low, int High, float Fraction) SamplePoint(int index, int count, int side)
    {
        float point = count == 1 ? 0f : index * (float)(side - 1) / (count - 1);
        int low = (int)point;
        return (low, Math.Min(low + 1, side - 1), point - low);
    }

    /// <summary>cos and sin of each patch's rotary angles: HeadDim/4 frequencies times its row, then as many times its column.</summary>
    (float[] Cos, float[] Sin) RotaryTables(int[] patchRow, int[] patchColumn)
    {
        int perAxis = _inverseFrequencies.Length, half = 2 * perAxis;
        var cos = new float[patchRow.Length * half];
        var sin = new float[patchRow.Length * half];
        for (int i = 0; i < patchRow.Length; i++)
            for (int f = 0; f < half; f++)
            {
                float angle = (f < perAxis ? patchRow[i] : patchColumn[i]) * _inverseFrequencies[f % perAxis];
                cos[i * half + f] = MathF.Cos(angle);
                sin[i * half + f] = MathF.Sin(angle);
            }
        return (cos, sin);
    }

    void RunBlock(Block block, int n, float[] cos, float[] sin, VisionStageCallback? observe)
    {
        var config = Config;
        int d = config.HiddenSize, f = config.FeedForwardLength, heads = config.HeadCount, headDim = config.HeadDim;
        _normed.EnsureCapacity((long)n * d);
        _qkv.EnsureCapacity((long)n * 3 * d);
        _mixed.EnsureCapacity((long)n * d);
        _residual.EnsureCapacity((long)n * d);
        _feedForward.EnsureCapacity((long)n * f);

        _rows.Run(n, t => VisionKernels.LayerNorm(_hidden.Slice((long)t * d, d), block.Norm1Weight, block.Norm1Bias, config.NormEpsilon, _normed.Slice((long)t * d, d)));
        Project(block.Qkv, block.QkvBias, _normed.Pointer, n, _qkv.Pointer);
        int half = headDim / 2;
        for (int t = 0; t < n; t++)
        {
            var tokenCos = cos.AsSpan(t * half, half);
            var tokenSin = sin.AsSpan(t * half, half);
            for (int h = 0; h < 2 * heads; h++)
                RotateHalves(_qkv.Slice((long)t * 3 * d + h * headDim, headDim), tokenCos, tokenSin);
        }
        if (observe is not null)
        {
            observe("Qcur_rope-0", Gather(_qkv, n, 3 * d, 0, d));
            observe("Kcur_rope-0", Gather(_qkv, n, 3 * d, d, d));
        }
        _attention.Run(_qkv.Pointer, n, heads, headDim, _mixed.Pointer);
        Project(block.Output, block.OutputBias, _mixed.Pointer, n, _residual.Pointer);
        TensorPrimitives.Add(View(_hidden, (long)n * d), View(_residual, (long)n * d), View(_hidden, (long)n * d));

        _rows.Run(n, t => VisionKernels.LayerNorm(_hidden.Slice((long)t * d, d), block.Norm2Weight, block.Norm2Bias, config.NormEpsilon, _normed.Slice((long)t * d, d)));
        Project(block.Up, block.UpBias, _normed.Pointer, n, _feedForward.Pointer);
        _rows.Run(n, t => VisionKernels.GeluTanh(_feedForward.Slice((long)t * f, f)));
        Project(block.Down, block.DownBias, _feedForward.Pointer, n, _residual.Pointer);
        TensorPrimitives.Add(View(_hidden, (long)n * d), View(_residual, (long)n * d), View(_hidden, (long)n * d));
    }

    /// <summary>Hugging Face's rotate_half: dimension i turns with i + headDim/2 by angle i.</summary>
    static void RotateHalves(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = cos.Length;
        for (int i = 0; i < half; i++)
        {
            float a = head[i], b = head[i + half];
            head[i] = a * cos[i] - b * sin[i];
            head[i + half] = b * cos[i] + a * sin[i];
        }
    }

    /// <summary>
    /// A merger writing <c>ProjectionDim</c> columns of each output row from <paramref name="column"/> on. The main
    /// merger normalizes each patch, then merges; a deepstack merger merges the block's output, then normalizes.
    /// GELU is the tanh form, as llama.cpp computes it (Hugging Face's merger uses the exact erf form; the two differ
    /// by less than the reference's own rounding).
    /// </summary>
    void RunMerger(Merger merger, int tokens, bool normBeforeMerge, float[] output, int column)
    {
        int d = Config.HiddenSize, mergedWidth = Config.MergedWidth, inner = merger.Fc1Bias.Length;
        int normWidth = normBeforeMerge ? d : mergedWidth;
        long values = (long)tokens * mergedWidth;
        _merged.EnsureCapacity(values);
        _feedForward.EnsureCapacity((long)tokens * inner);
        // Patches are in merge-block order, so the merged token t is rows [t·group, (t+1)·group) side by side: the same memory.
        for (long start = 0; start < values; start += normWidth)
            VisionKernels.LayerNorm(_hidden.Slice(start, normWidth), merger.NormWeight, merger.NormBias, Config.NormEpsilon, _merged.Slice(start, normWidth));
        Project(merger.Fc1, merger.Fc1Bias, _merged.Pointer, tokens, _feedForward.Pointer);
        _rows.Run(tokens, t => VisionKernels.GeluTanh(_feedForward.Slice((long)t * inner, inner)));
        fixed (float* target = output)
            Project(merger.Fc2, merger.Fc2Bias, _feedForward.Pointer, tokens, target + column, Config.EmbeddingWidth);
    }

    /// <summary>output[t] = W · input[t] + bias, rows of <paramref name="outputStride"/> values (default: W's row count).</summary>
    void Project(WeightTensor weights, float[] bias, float* input, int tokens, float* output, int outputStride = 0)
    {
        fixed (float* b = bias)
            _matMul.Multiply(weights, input, tokens, output, outputStride == 0 ? (int)weights.RowCount : outputStride, b);
    }

    /// <summary>A per-row pass (norms, activations) split into blocks of rows across the pool.</summary>
    sealed class RowBlocks(WorkerPool pool) : IParallelWork
    {
        const int RowsPerItem = 16;
        Action<int>? _row;
        int _count;

        public void Run(int rows, Action<int> row)
        {
            (_row, _count) = (row, rows);
            pool.Run(this, (rows + RowsPerItem - 1) / RowsPerItem);
            _row = null;
        }

        void IParallelWork.Execute(int item)
        {
            for (int row = item * RowsPerItem; row < Math.Min(_count, (item + 1) * RowsPerItem); row++)
                _row!(row);
        }
    }

    static Span<float> View(NativeBuffer<float> buffer, long length) => new(buffer.Pointer, checked((int)length));

    /// <summary>Columns [offset, offset + width) of each of <paramref name="rows"/> rows of <paramref name="stride"/> values, packed.</summary>
    static float[] Gather(NativeBuffer<float> buffer, int rows, int stride, int offset, int width)
    {
        var packed = new float[(long)rows * width];
        for (int t = 0; t < rows; t++)
            buffer.Slice((long)t * stride + offset, width).CopyTo(packed.AsSpan(t * width, width));
        return packed;
    }

    public void Dispose()
    {
        _attention.Dispose();
        foreach (var buffer in new[] { _patchKernel, _patches, _hidden, _normed, _qkv, _mixed, _residual, _feedForward, _merged })
            buffer.Dispose();
    }
}
