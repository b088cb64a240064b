using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>down(silu(gate·x) ⊙ up·x): the Qwen MLP, also each expert of a mixture.</summary>
public sealed unsafe class SwiGluFeedForward(WeightTensor gate, WeightTensor up, WeightTensor down) : IFeedForward
{
    public int HiddenLength => (int)gate.RowCount;

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
        matMul.Multiply(input, tokens, new MatMulTarget(gate, gateValues), new MatMulTarget(up, upValues));
        Kernels.SiluMultiply(new Span<float>(gateValues.Pointer, tokens * hidden), new ReadOnlySpan<float>(upValues.Pointer, tokens * hidden));
        matMul.Multiply(down, gateValues.Pointer, tokens, output, (int)down.RowCount);
    }
}
