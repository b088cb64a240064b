using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>A shared expert that every token passes through, scaled by sigmoid(gate·x) (Qwen3.5 MoE).</summary>
public sealed record SharedExpert(SwiGluFeedForward FeedForward, WeightTensor Gate);

/// <summary>
/// Softmax router, top-k experts per token with their weights renormalized to sum to one, as Qwen3-MoE and
/// Qwen3.5-MoE route. Each expert runs once per forward pass over just the tokens routed to it.
/// </summary>
public sealed unsafe class MixtureOfExperts(
    WeightTensor router, SwiGluFeedForward[] experts, int expertsUsed, SharedExpert? shared = null) : IFeedForward
{
    NativeBuffer<float> _routerLogits = null!;
    NativeBuffer<float> _gathered = null!;
    NativeBuffer<float> _expertOutput = null!;
    readonly List<(int Token, float Weight)>[] _routed = experts.Select(_ => new List<(int, float)>()).ToArray();

    public void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output)
    {
        _routerLogits = context.Scratch[ScratchSlot.RouterLogits];
        _gathered = context.Scratch[ScratchSlot.ExpertInput];
        _expertOutput = context.Scratch[ScratchSlot.ExpertOutput];
        int n = context.Tokens, width = router.RowLength, expertCount = experts.Length;
        _routerLogits.EnsureCapacity((long)n * expertCount);
        context.MatMul.Multiply(router, input, n, _routerLogits);
        foreach (var list in _routed)
            list.Clear();
        Span<int> chosen = stackalloc int[expertsUsed];
        for (int t = 0; t < n; t++)
        {
            var probabilities = _routerLogits.Slice((long)t * expertCount, expertCount);
            Kernels.Softmax(probabilities);
            TopK(probabilities, chosen);
            float sum = 0;
            foreach (int e in chosen)
                sum += probabilities[e];
            // ggml clamps the sum so that a router that put ~all mass elsewhere cannot blow the weights up.
            sum = MathF.Max(sum, 6.103515625e-5f);
            foreach (int e in chosen)
                _routed[e].Add((t, probabilities[e] / sum));
        }

        new Span<float>(output.Pointer, n * width).Clear();
        _gathered.EnsureCapacity((long)n * width);
        _expertOutput.EnsureCapacity((long)n * width);
        for (int e = 0; e < expertCount; e++)
        {
            var routed = _routed[e];
            if (routed.Count == 0)
                continue;
            for (int i = 0; i < routed.Count; i++)
                input.Slice((long)routed[i].Token * width, width).CopyTo(_gathered.Slice((long)i * width, width));
            experts[e].Forward(context, _gathered.Pointer, routed.Count, _expertOutput.Pointer);
            for (int i = 0; i < routed.Count; i++)
            {
                var target = output.Slice((long)routed[i].Token * width, width);
                TensorPrimitives.MultiplyAdd(_expertOutput.Slice((long)i * width, width), routed[i].Weight, target, target);
            }
        }

        if (shared is not null)
            AddSharedExpert(context, input, output, shared);
    }

    void AddSharedExpert(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output, SharedExpert expert)
    {
        int n = context.Tokens, width = router.RowLength;
        expert.FeedForward.Forward(context, input.Pointer, n, _expertOutput.Pointer);
        _gathered.EnsureCapacity(n);
        context.MatMul.Multiply(expert.Gate, input.Pointer, n, _gathered.Pointer, 1);
        for (int t = 0; t < n; t++)
        {
            float gate = 1f / (1f + MathF.Exp(-_gathered.Pointer[t]));
            var target = output.Slice((long)t * width, width);
            TensorPrimitives.MultiplyAdd(_expertOutput.Slice((long)t * width, width), gate, target, target);
        }
    }

    /// <summary>Indices of the k largest values, largest first; ties go to the lower index, as ggml's argsort does.</summary>
    static void TopK(ReadOnlySpan<float> values, Span<int> chosen)
    {
        for (int k = 0; k < chosen.Length; k++)
        {
            int best = -1;
            for (int i = 0; i < values.Length; i++)
                if ((best < 0 || values[i] > values[best]) && !chosen[..k].Contains(i))
                    best = i;
            chosen[k] = best;
        }
    }
}
