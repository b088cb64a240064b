using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>down(silu(gate·x) ⊙ up·x): the Qwen MLP, also each expert of a mixture.</summary>
public sealed unsafe class SwiGluFeedForward(WeightTensor gate, WeightTensor up, WeightTensor down) : IFeedForward, IDisposable
{
    readonly NativeBuffer<float> _gate = new();
    readonly NativeBuffer<float> _up = new();

    public int HiddenLength => (int)gate.RowCount;

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output) =>
        Forward(context.MatMul, input.Pointer, context.Tokens, output.Pointer);

    public void Forward(MatMul matMul, float* input, int tokens, float* output)
    {
        int hidden = HiddenLength;
        _gate.EnsureCapacity((long)tokens * hidden);
        _up.EnsureCapacity((long)tokens * hidden);
        matMul.Multiply(input, tokens, new MatMulTarget(gate, _gate), new MatMulTarget(up, _up));
        Kernels.SiluMultiply(new Span<float>(_gate.Pointer, tokens * hidden), new ReadOnlySpan<float>(_up.Pointer, tokens * hidden));
        matMul.Multiply(down, _gate.Pointer, tokens, output, (int)down.RowCount);
    }

    public void Dispose()
    {
        _gate.Dispose();
        _up.Dispose();
    }
}
