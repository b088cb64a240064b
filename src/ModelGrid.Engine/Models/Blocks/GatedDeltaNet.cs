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
    : ITokenMixer, IParallelWork, IDisposable
{
    readonly NativeBuffer<float> _qkv = new();
    readonly NativeBuffer<float> _gate = new();
    readonly NativeBuffer<float> _beta = new();
    readonly NativeBuffer<float> _alpha = new();
    readonly NativeBuffer<float> _convolved = new(shape.Channels);
    readonly NativeBuffer<float> _mixed = new();
    DeltaNetState _state = null!;
    int _token;

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output)
    {
        int n = context.Tokens, channels = shape.Channels, valueWidth = shape.ValueHeads * shape.ValueDim;
        _qkv.EnsureCapacity((long)n * channels);
        _gate.EnsureCapacity((long)n * valueWidth);
        _beta.EnsureCapacity((long)n * shape.ValueHeads);
        _alpha.EnsureCapacity((long)n * shape.ValueHeads);
        _mixed.EnsureCapacity((long)n * valueWidth);
        context.MatMul.Multiply(input.Pointer, n,
            new MatMulTarget(weights.QueryKeyValue, _qkv), new MatMulTarget(weights.OutputGate, _gate),
            new MatMulTarget(weights.Beta, _beta), new MatMulTarget(weights.Alpha, _alpha));

        var batch = context.Batch;
        for (int t = 0; t < n; t++)
        {
            _state = batch.Sequence(t).LayerState(layer, () => new DeltaNetState(shape));
            Convolve(t);
            _token = t;
            context.Pool.Run(this, shape.ValueHeads);
        }
        _state = null!;
        context.MatMul.Multiply(weights.Output, _mixed, n, output);
    }

    /// <summary>Causal depthwise conv over [window; current] with SiLU, then L2-normalizes each q and k head.</summary>
    void Convolve(int t)
    {
        int channels = shape.Channels, taps = shape.ConvKernel;
        float* current = _qkv.Pointer + (long)t * channels;
        float* window = _state.ConvolutionWindow.Pointer;
        float* result = _convolved.Pointer;
        for (int c = 0; c < channels; c++)
        {
            float sum = 0;
            for (int j = 0; j < taps - 1; j++)
                sum += weights.Convolution[c * taps + j] * window[(long)j * channels + c];
            sum += weights.Convolution[c * taps + taps - 1] * current[c];
            result[c] = sum / (1f + MathF.Exp(-sum));
        }
        if (taps > 1)
        {
            var rows = new Span<float>(window, (taps - 1) * channels);
            rows[channels..].CopyTo(rows);
            new ReadOnlySpan<float>(current, channels).CopyTo(rows[^channels..]);
        }
        for (int h = 0; h < 2 * shape.KeyHeads; h++)
            L2Normalize(new Span<float>(result + h * shape.KeyDim, shape.KeyDim));
    }

    void L2Normalize(Span<float> head)
    {
        double sum = 0;
        foreach (float v in head)
            sum += (double)v * v;
        TensorPrimitives.Multiply(head, 1f / MathF.Max((float)Math.Sqrt(sum), epsilon), head);
    }

    /// <summary>The delta rule and gated norm for one value head of the current token.</summary>
    void IParallelWork.Execute(int valueHead)
    {
        int dk = shape.KeyDim, dv = shape.ValueDim, t = _token;
        int keyHead = shape.KeyHeadOf(valueHead);
        var q = new ReadOnlySpan<float>(_convolved.Pointer + keyHead * dk, dk);
        var k = new ReadOnlySpan<float>(_convolved.Pointer + (shape.KeyHeads + keyHead) * dk, dk);
        var v = new ReadOnlySpan<float>(_convolved.Pointer + 2 * shape.KeyHeads * dk + valueHead * dv, dv);
        float beta = 1f / (1f + MathF.Exp(-_beta.Pointer[(long)t * shape.ValueHeads + valueHead]));
        float x = _alpha.Pointer[(long)t * shape.ValueHeads + valueHead] + weights.TimeStepBias[valueHead];
        float softplus = x > 20 ? x : MathF.Log(1f + MathF.Exp(x));
        float decay = MathF.Exp(weights.DecayRate[valueHead] * softplus);

        var memory = new Span<float>(_state.Memory.Pointer + (long)valueHead * dk * dv, dk * dv);
        TensorPrimitives.Multiply(memory, decay, memory);
        Span<float> delta = stackalloc float[dv];
        delta.Clear();
        for (int i = 0; i < dk; i++)
            TensorPrimitives.MultiplyAdd(memory.Slice(i * dv, dv), k[i], delta, delta);
        TensorPrimitives.Subtract(v, delta, delta);
        TensorPrimitives.Multiply(delta, beta, delta);
        var output = new Span<float>(_mixed.Pointer + (long)t * shape.ValueHeads * dv + valueHead * dv, dv);
        output.Clear();
        for (int i = 0; i < dk; i++)
        {
            var row = memory.Slice(i * dv, dv);
            TensorPrimitives.MultiplyAdd(delta, k[i], row, row);
            TensorPrimitives.MultiplyAdd(row, q[i], output, output);
        }
        TensorPrimitives.Multiply(output, 1f / MathF.Sqrt(dk), output);

        Kernels.RmsNorm(output, weights.Norm, epsilon, output);
        var gate = new ReadOnlySpan<float>(_gate.Pointer + (long)t * shape.ValueHeads * dv + valueHead * dv, dv);
        for (int j = 0; j < dv; j++)
            output[j] *= gate[j] / (1f + MathF.Exp(-gate[j]));
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _gate.Dispose();
        _beta.Dispose();
        _alpha.Dispose();
        _convolved.Dispose();
        _mixed.Dispose();
    }
}
