using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed unsafe class PatchAttentionTests
{
    /// <summary>Patch counts below, at and past one query block (256), on and off a multiple of 8, against softmax(q·k/√d)·v in doubles.</summary>
    [Theory]
    [InlineData(12, 2, 8)]
    [InlineData(256, 2, 16)]
    [InlineData(300, 3, 8)]
    [InlineData(36, 1, 64)]
    public void Matches_a_plain_loop(int patches, int heads, int headDim)
    {
        int width = heads * headDim;
        var random = new Random(patches * 31 + heads);
        var qkv = Enumerable.Range(0, patches * 3 * width).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray();
        var output = new float[patches * width];
        using (var pool = new WorkerPool(2))
        {
            using var attention = new PatchAttention(pool);
            fixed (float* input = qkv, result = output)
                attention.Run(input, patches, heads, headDim, result);
        }

        var scores = new double[patches];
        for (int head = 0; head < heads; head++)
            for (int i = 0; i < patches; i++)
            {
                for (int j = 0; j < patches; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < headDim; c++)
                        dot += (double)qkv[i * 3 * width + head * headDim + c] * qkv[j * 3 * width + width + head * headDim + c];
                    scores[j] = dot / Math.Sqrt(headDim);
                }
                double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                for (int c = 0; c < headDim; c++)
                {
                    double expected = 0;
                    for (int j = 0; j < patches; j++)
                        expected += Math.Exp(scores[j] - max) / sum * qkv[j * 3 * width + 2 * width + head * headDim + c];
                    float actual = output[i * width + head * headDim + c];
                    Assert.True(Math.Abs(actual - expected) <= 1e-4, $"patch {i}, head {head}, dimension {c}: {actual} vs {expected}");
                }
            }
    }
}
