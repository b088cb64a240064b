using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>down(silu(gate·x) ⊙ up·x): the Qwen MLP, also each expert of a mixture.</summary>
public sealed unsafe class SwiGluFeedForward : IFeedForward
{
    readonly WeightTensor _gate, _up, _down;
    readonly RangeStep _activateRows;
    float* _gateValues;
    float* _upValues;

    public SwiGluFeedForward(WeightTensor gate, WeightTensor up, WeightTensor down)
    {
        (_gate, _up, _down) = (gate, up, down);
        _activateRows = ActivateRows;
    }

    public int HiddenLength => (int)_gate.RowCount;

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output) =>
        Forward(context, input.Pointer, context.Tokens, output.Pointer);

    public void Forward(ForwardContext context, float* input, int tokens, float* output)
    {
        var matMul = context.MatMul;
        var gateValues = context.Scratch[ScratchSlot.FeedForwardGate];
        var upValues = context.Scratch[ScratchSlot.FeedForwardUp];
        int hidden = HiddenLength;
        gateValues.EnsureCapacity((long)tokens * hidden);
        upValues.EnsureCapacity((long)tokens * hidden);
        matMul.Multiply(input, tokens, new MatMulTarget(_gate, gateValues), new MatMulTarget(_up, upValues));
        _gateValues = gateValues.Pointer;
        _upValues = upValues.Pointer;
        context.Pool.RunRanges(tokens, _activateRows);
        matMul.Multiply(_down, gateValues.Pointer, tokens, output, (int)_down.RowCount);
    }

    void ActivateRows(int first, int count)
    {
        long start = (long)first * HiddenLength;
        int length = count * HiddenLength;
        Kernels.SiluMultiply(new Span<float>(_gateValues + start, length), new ReadOnlySpan<float>(_upValues + start, length));
    }
}
