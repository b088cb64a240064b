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
/// Tokens run one after another through the recurrence, as llama.cpp's CPU path does; only the projections are batched.
/// </summary>
public sealed unsafe class GatedDeltaNet(int layer, GatedDeltaNetWeights weights, GatedDeltaNetShape shape, float epsilon)
    : ITokenMixer, IParallelWork
{
    NativeBuffer<float> _qkv = null!;
    NativeBuffer<float> _gate = null!;
    NativeBuffer<float> _beta = null!;
    NativeBuffer<float> _alpha = null!;
    NativeBuffer<float> _convolved = null!;
    NativeBuffer<float> _mixed = null!;
    ForwardBatch _batch = null!;
    Convolution? _convolution;

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
        for (int t = 0; t < n; t++)
            State(t);
        context.Pool.Run(_convolution ??= new Convolution(this), 2 * shape.KeyHeads + shape.ValueHeads);
        context.Pool.Run(this, shape.ValueHeads);
        _batch = null!;
        context.MatMul.Multiply(weights.Output, _mixed, n, output);
    }

    /// <summary>Bytes of one sequence's state for this layer.</summary>
    public long StateBytes => DeltaNetState.BytesFor(shape);

    DeltaNetState State(int t) => _batch.Sequence(t).LayerState(layer, () => new DeltaNetState(shape));

    /// <summary>
    /// Causal depthwise conv over [window; current] with SiLU for the channels of one q, k or v head, for every token
    /// in order, then L2-normalizes the head for q and k.
    /// </summary>
    void Convolve(int head)
    {
        int channels = shape.Channels, taps = shape.ConvKernel;
        bool isKeyOrQuery = head < 2 * shape.KeyHeads;
        int first = isKeyOrQuery ? head * shape.KeyDim : 2 * shape.KeyHeads * shape.KeyDim + (head - 2 * shape.KeyHeads) * shape.ValueDim;
        int width = isKeyOrQuery ? shape.KeyDim : shape.ValueDim;
        float* silu = stackalloc float[width];
        for (int t = 0; t < _batch.Count; t++)
        {
            float* current = _qkv.Pointer + (long)t * channels;
            float* window = State(t).ConvolutionWindow.Pointer;
            var result = new Span<float>(_convolved.Pointer + (long)t * channels + first, width);
            for (int i = 0; i < width; i++)
            {
                int c = first + i;
                float sum = weights.Convolution[c * taps + taps - 1] * current[c];
                for (int j = 0; j < taps - 1; j++)
                    sum += weights.Convolution[c * taps + j] * window[(long)j * channels + c];
                // The window moves on by one token for this channel.
                for (int j = 0; j < taps - 2; j++)
                    window[(long)j * channels + c] = window[(long)(j + 1) * channels + c];
                if (taps > 1)
                    window[(long)(taps - 2) * channels + c] = current[c];
                result[i] = sum;
            }
            var gate = new Span<float>(silu, width);
            TensorPrimitives.Sigmoid(result, gate);
            TensorPrimitives.Multiply(result, gate, result);
            if (isKeyOrQuery)
                L2Normalize(result);
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

    /// <summary>The delta rule and gated norm of one value head, for every token of the batch in order.</summary>
    void IParallelWork.Execute(int valueHead)
    {
        int dk = shape.KeyDim, dv = shape.ValueDim, channels = shape.Channels, heads = shape.ValueHeads;
        int keyHead = shape.KeyHeadOf(valueHead);
        float scale = 1f / MathF.Sqrt(dk);
        float* delta = stackalloc float[dv];
        for (int t = 0; t < _batch.Count; t++)
        {
            float* convolved = _convolved.Pointer + (long)t * channels;
            float* q = convolved + keyHead * dk;
            float* k = convolved + (shape.KeyHeads + keyHead) * dk;
            float* v = convolved + 2 * shape.KeyHeads * dk + valueHead * dv;
            float beta = 1f / (1f + MathF.Exp(-_beta.Pointer[(long)t * heads + valueHead]));
            float x = _alpha.Pointer[(long)t * heads + valueHead] + weights.TimeStepBias[valueHead];
            float softplus = x > 20 ? x : MathF.Log(1f + MathF.Exp(x));
            float decay = MathF.Exp(weights.DecayRate[valueHead] * softplus);
            float* memory = State(t).Memory.Pointer + (long)valueHead * dk * dv;
            float* output = _mixed.Pointer + ((long)t * heads + valueHead) * dv;

            // Two passes over S (dk × dv) instead of three: with S' = e^g·S, S'ᵀk = e^g·(Sᵀk), and the decay, the
            // rank-one update S' + k ⊗ δ and the read-out o = (S' + k ⊗ δ)ᵀq/√dk share the second pass.
            new Span<float>(delta, dv).Clear();
            for (int i = 0; i < dk; i++)
                VectorMath.MultiplyAdd(delta, memory + i * dv, k[i], dv);
            for (int j = 0; j < dv; j++)
                delta[j] = (v[j] - decay * delta[j]) * beta;
            new Span<float>(output, dv).Clear();
            for (int i = 0; i < dk; i++)
            {
                float* row = memory + i * dv;
                VectorMath.ScaleAdd(row, decay, delta, k[i], dv);
                VectorMath.MultiplyAdd(output, row, q[i] * scale, dv);
            }

            var head = new Span<float>(output, dv);
            Kernels.RmsNorm(head, weights.Norm, epsilon, head);
            float* gate = _gate.Pointer + ((long)t * heads + valueHead) * dv;
            for (int j = 0; j < dv; j++)
                output[j] *= gate[j] / (1f + MathF.Exp(-gate[j]));
        }
    }
}
