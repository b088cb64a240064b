using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>Weights of one Gated DeltaNet layer, named as in GGUF (<c>attn_qkv</c>, <c>attn_gate</c>, <c>ssm_*</c>).</summary>
public sealed record GatedDeltaNetWeights(
    WeightTensor QueryKeyValue, WeightTensor OutputGate, WeightTensor Beta, WeightTensor Alpha,
    float[] DecayRate, float[] TimeStepBias, float[] Convolution, float[] Norm, WeightTensor Output);

/// <summary>Shape of a Gated DeltaNet layer: key heads of <c>KeyDim</c>, value heads of <c>ValueDim</c>, conv length.</summary>
public sealed record GatedDeltaNetShape(int KeyHeads, int ValueHeads, int KeyDim, int ValueDim, int ConvKernel, bool GroupedValueHeads)
{
    public int Channels => 2 * KeyHeads * KeyDim + ValueHeads * ValueDim;

    /// <summary>
    /// The key head a value head reads. GGUF files tile value heads over key heads (h % keyHeads); Hugging Face
    /// checkpoints group them (h / (valueHeads / keyHeads)).
    /// </summary>
    public int KeyHeadOf(int valueHead) => GroupedValueHeads ? valueHead / (ValueHeads / KeyHeads) : valueHead % KeyHeads;
}

/// <summary>Per sequence: the last K-1 projected qkv rows (for the causal conv) and one dk×dv matrix per value head.</summary>
public sealed unsafe class DeltaNetState(GatedDeltaNetShape shape) : IDisposable, IRecurrentState
{
    public NativeBuffer<float> ConvolutionWindow { get; } = Zeroed((long)(shape.ConvKernel - 1) * shape.Channels);

    /// <summary>S[h][i][j]: value head h, key dimension i, value dimension j.</summary>
    public NativeBuffer<float> Memory { get; } = Zeroed((long)shape.ValueHeads * shape.KeyDim * shape.ValueDim);

    public long Bytes => (ConvolutionWindow.Length + Memory.Length) * sizeof(float);

    public static long BytesFor(GatedDeltaNetShape shape) =>
        ((long)(shape.ConvKernel - 1) * shape.Channels + (long)shape.ValueHeads * shape.KeyDim * shape.ValueDim) * sizeof(float);

    /// <summary>An independent copy: the state after the same tokens.</summary>
    public DeltaNetState Copy()
    {
        var copy = new DeltaNetState(shape);
        ConvolutionWindow.Span.CopyTo(copy.ConvolutionWindow.Span);
        Memory.Span.CopyTo(copy.Memory.Span);
        return copy;
    }

    static NativeBuffer<float> Zeroed(long length)
    {
        var buffer = new NativeBuffer<float>(Math.Max(1, length));
        buffer.Span.Clear();
        return buffer;
    }

    public void Dispose()
    {
        ConvolutionWindow.Dispose();
        Memory.Dispose();
    }
}

/// <summary>
/// Gated DeltaNet linear attention (Qwen3.5): fused qkv projection, causal depthwise conv + SiLU, L2-normalized
/// q and k, decay g = a·softplus(α + dt_bias), β = sigmoid(b), then per value head the delta rule
/// S ← e^g·S; S += k ⊗ β(v − Sᵀk); o = Sᵀq/√dk, and a gated RMSNorm o·SiLU(z) before the output projection.
/// A sequence's tokens in the batch go through the rule in chunks of up to <see cref="DeltaRuleChunk.Capacity"/> as
/// products of small matrices (<see cref="DeltaRule.Chunk"/>); a chunk of fewer than <see cref="MinimumChunkTokens"/>
/// (decoding, a short tail) goes token by token, where the matrix form costs more than it saves.
/// </summary>
public sealed unsafe class GatedDeltaNet(int layer, GatedDeltaNetWeights weights, GatedDeltaNetShape shape, float epsilon)
    : ITokenMixer, IParallelWork
{
    /// <summary>Below this many tokens of one sequence, the recurrence is faster than the chunked form (measured).</summary>
    public const int MinimumChunkTokens = 4;

    [ThreadStatic]
    static DeltaRuleChunk? t_chunk;

    NativeBuffer<float> _qkv = null!;
    NativeBuffer<float> _gate = null!;
    NativeBuffer<float> _beta = null!;
    NativeBuffer<float> _alpha = null!;
    NativeBuffer<float> _convolved = null!;
    NativeBuffer<float> _mixed = null!;
    ForwardBatch _batch = null!;
    Convolution? _convolution;

    // The batch's rows grouped by sequence, in order: _runs[r] covers _rowOrder[Start..Start+Count).
    readonly List<(int Start, int Count, DeltaNetState State)> _runs = [];
    readonly Dictionary<SequenceState, int> _runOfSequence = [];
    int[] _rowOrder = [];

    // conv1d weights by tap: [tap][channel] instead of the file's [channel][tap], so a tap is one row over the channels.
    readonly float[] _tapMajorConvolution = TapMajor(weights.Convolution, shape);

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output)
    {
        _qkv = context.Scratch[ScratchSlot.DeltaQueryKeyValue];
        _gate = context.Scratch[ScratchSlot.DeltaOutputGate];
        _beta = context.Scratch[ScratchSlot.DeltaBeta];
        _alpha = context.Scratch[ScratchSlot.DeltaAlpha];
        _convolved = context.Scratch[ScratchSlot.DeltaConvolved];
        _mixed = context.Scratch[ScratchSlot.DeltaOutput];
        int n = context.Tokens, channels = shape.Channels, valueWidth = shape.ValueHeads * shape.ValueDim;
        _qkv.EnsureCapacity((long)n * channels);
        _gate.EnsureCapacity((long)n * valueWidth);
        _beta.EnsureCapacity((long)n * shape.ValueHeads);
        _alpha.EnsureCapacity((long)n * shape.ValueHeads);
        _mixed.EnsureCapacity((long)n * valueWidth);
        _convolved.EnsureCapacity((long)n * channels);
        context.MatMul.Multiply(input.Pointer, n,
            new MatMulTarget(weights.QueryKeyValue, _qkv), new MatMulTarget(weights.OutputGate, _gate),
            new MatMulTarget(weights.Beta, _beta), new MatMulTarget(weights.Alpha, _alpha));

        // Both the conv (per channel) and the recurrence (per value head) are independent across heads and sequential
        // in time: each runs as one parallel loop over heads that walks all tokens in order.
        _batch = context.Batch;
        GroupRowsBySequence();
        context.Pool.Run(_convolution ??= new Convolution(this), 2 * shape.KeyHeads + shape.ValueHeads);
        context.Pool.Run(this, shape.ValueHeads);
        _batch = null!;
        _runs.Clear();
        context.MatMul.Multiply(weights.Output, _mixed, n, output);
    }

    /// <summary>Bytes of one sequence's state for this layer.</summary>
    public long StateBytes => DeltaNetState.BytesFor(shape);

    static float[] TapMajor(float[] convolution, GatedDeltaNetShape shape)
    {
        var tapMajor = new float[convolution.Length];
        SmallMatrix.Transpose(convolution, shape.ConvKernel, tapMajor, shape.Channels, shape.ConvKernel);
        return tapMajor;
    }

    DeltaNetState State(int t) => _batch.Sequence(t).LayerState(layer, () => new DeltaNetState(shape));

    void GroupRowsBySequence()
    {
        int n = _batch.Count;
        if (_rowOrder.Length < n)
            _rowOrder = new int[n];
        _runOfSequence.Clear();
        for (int t = 0; t < n; t++)
        {
            if (!_runOfSequence.TryGetValue(_batch.Sequence(t), out int run))
            {
                run = _runs.Count;
                _runOfSequence.Add(_batch.Sequence(t), run);
                _runs.Add((0, 0, State(t)));
            }
            _runs[run] = _runs[run] with { Count = _runs[run].Count + 1 };
        }
        for (int r = 1; r < _runs.Count; r++)
            _runs[r] = _runs[r] with { Start = _runs[r - 1].Start + _runs[r - 1].Count };
        Span<int> filled = stackalloc int[_runs.Count];
        for (int t = 0; t < n; t++)
        {
            int run = _runOfSequence[_batch.Sequence(t)];
            _rowOrder[_runs[run].Start + filled[run]++] = t;
        }
        _runOfSequence.Clear();
    }

    /// <summary>
    /// Causal depthwise conv with SiLU for the channels of one q, k or v head, each sequence's tokens in order, then
    /// L2-normalizes the head for q and k. Tap j of token i reads token i − (K−1) + j of its sequence, from the batch or,
    /// before the first, from the sequence's window of earlier inputs; the window then moves on past the batch's tokens.
    /// </summary>
    void Convolve(int head)
    {
        int channels = shape.Channels, taps = shape.ConvKernel, history = taps - 1;
        bool isKeyOrQuery = head < 2 * shape.KeyHeads;
        int first = isKeyOrQuery ? head * shape.KeyDim : 2 * shape.KeyHeads * shape.KeyDim + (head - 2 * shape.KeyHeads) * shape.ValueDim;
        int width = isKeyOrQuery ? shape.KeyDim : shape.ValueDim;
        float* silu = stackalloc float[width];
        foreach (var (start, count, state) in _runs)
        {
            var rows = _rowOrder.AsSpan(start, count);
            float* window = state.ConvolutionWindow.Pointer + first;
            for (int i = 0; i < count; i++)
            {
                var result = new Span<float>(_convolved.Pointer + (long)rows[i] * channels + first, width);
                result.Clear();
                for (int j = 0; j < taps; j++)
                {
                    int source = i - history + j;
                    float* input = source >= 0 ? _qkv.Pointer + (long)rows[source] * channels + first : window + (long)(history + source) * channels;
                    var weight = _tapMajorConvolution.AsSpan(j * channels + first, width);
                    TensorPrimitives.FusedMultiplyAdd(new ReadOnlySpan<float>(input, width), weight, result, result);
                }
                var gate = new Span<float>(silu, width);
                TensorPrimitives.Sigmoid(result, gate);
                TensorPrimitives.Multiply(result, gate, result);
                if (isKeyOrQuery)
                    L2Normalize(result);
            }
            // Ascending rows: row r takes input count − K + 1 + r, from the batch or from the later window row r + count.
            for (int r = 0; r < history; r++)
            {
                int source = count - history + r;
                float* input = source >= 0 ? _qkv.Pointer + (long)rows[source] * channels + first : window + (long)(history + source) * channels;
                new ReadOnlySpan<float>(input, width).CopyTo(new Span<float>(window + (long)r * channels, width));
            }
        }
    }

    sealed class Convolution(GatedDeltaNet owner) : IParallelWork
    {
        public void Execute(int head) => owner.Convolve(head);
    }

    void L2Normalize(Span<float> head)
    {
        double sum = 0;
        foreach (float v in head)
            sum += (double)v * v;
        TensorPrimitives.Multiply(head, 1f / MathF.Max((float)Math.Sqrt(sum), epsilon), head);
    }

    /// <summary>The delta rule and gated norm of one value head, for every sequence of the batch.</summary>
    void IParallelWork.Execute(int valueHead)
    {
        int dv = shape.ValueDim, heads = shape.ValueHeads;
        foreach (var (start, count, state) in _runs)
        {
            float* memory = state.Memory.Pointer + (long)valueHead * shape.KeyDim * dv;
            for (int done = 0; done < count; done += DeltaRuleChunk.Capacity)
            {
                var rows = _rowOrder.AsSpan(start + done, Math.Min(DeltaRuleChunk.Capacity, count - done));
                if (rows.Length >= MinimumChunkTokens)
                    RunChunk(valueHead, rows, memory);
                else
                    foreach (int t in rows)
                        RunStep(valueHead, t, memory);
            }
        }

        Span<float> silu = stackalloc float[dv];
        for (int t = 0; t < _batch.Count; t++)
        {
            var output = new Span<float>(Output(t, valueHead), dv);
            Kernels.RmsNorm(output, weights.Norm, epsilon, output);
            var gate = new ReadOnlySpan<float>(_gate.Pointer + ((long)t * heads + valueHead) * dv, dv);
            TensorPrimitives.Sigmoid(gate, silu);
            TensorPrimitives.Multiply(gate, silu, silu);
            TensorPrimitives.Multiply(output, silu, output);
        }
    }

    float* Query(int t, int valueHead) => _convolved.Pointer + (long)t * shape.Channels + shape.KeyHeadOf(valueHead) * shape.KeyDim;

    float* Key(int t, int valueHead) => _convolved.Pointer + (long)t * shape.Channels + (shape.KeyHeads + shape.KeyHeadOf(valueHead)) * shape.KeyDim;

    float* Value(int t, int valueHead) => _convolved.Pointer + (long)t * shape.Channels + 2 * shape.KeyHeads * shape.KeyDim + valueHead * shape.ValueDim;

    float* Output(int t, int valueHead) => _mixed.Pointer + ((long)t * shape.ValueHeads + valueHead) * shape.ValueDim;

    float Beta(int t, int valueHead) => 1f / (1f + MathF.Exp(-_beta.Pointer[(long)t * shape.ValueHeads + valueHead]));

    /// <summary>The log of the decay, g = a·softplus(α + dt_bias).</summary>
    float LogDecay(int t, int valueHead)
    {
        float x = _alpha.Pointer[(long)t * shape.ValueHeads + valueHead] + weights.TimeStepBias[valueHead];
        float softplus = x > 20 ? x : MathF.Log(1f + MathF.Exp(x));
        return weights.DecayRate[valueHead] * softplus;
    }

    void RunStep(int valueHead, int t, float* memory)
    {
        int dk = shape.KeyDim, dv = shape.ValueDim;
        float* query = stackalloc float[dk];
        float* delta = stackalloc float[dv];
        TensorPrimitives.Multiply(new ReadOnlySpan<float>(Query(t, valueHead), dk), 1f / MathF.Sqrt(dk), new Span<float>(query, dk));
        DeltaRule.Step(memory, query, Key(t, valueHead), Value(t, valueHead), Beta(t, valueHead), MathF.Exp(LogDecay(t, valueHead)),
            Output(t, valueHead), delta, dk, dv);
    }

    void RunChunk(int valueHead, ReadOnlySpan<int> rows, float* memory)
    {
        int dk = shape.KeyDim, dv = shape.ValueDim;
        var chunk = t_chunk is { } cached && cached.KeyDim == dk && cached.ValueDim == dv ? cached : t_chunk = new DeltaRuleChunk(dk, dv);
        float scale = 1f / MathF.Sqrt(dk);
        for (int i = 0; i < rows.Length; i++)
        {
            int t = rows[i];
            TensorPrimitives.Multiply(new ReadOnlySpan<float>(Query(t, valueHead), dk), scale, chunk.Queries.AsSpan(i * dk, dk));
            new ReadOnlySpan<float>(Key(t, valueHead), dk).CopyTo(chunk.Keys.AsSpan(i * dk, dk));
            new ReadOnlySpan<float>(Value(t, valueHead), dv).CopyTo(chunk.Values.AsSpan(i * dv, dv));
            chunk.Beta[i] = Beta(t, valueHead);
            chunk.LogDecays[i] = LogDecay(t, valueHead);
        }
        DeltaRule.Chunk(chunk, rows.Length, new Span<float>(memory, dk * dv));
        for (int i = 0; i < rows.Length; i++)
            chunk.Outputs.AsSpan(i * dv, dv).CopyTo(new Span<float>(Output(rows[i], valueHead), dv));
    }
}
