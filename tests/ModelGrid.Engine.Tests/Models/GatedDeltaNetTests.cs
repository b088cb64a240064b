using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Models.Blocks;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Models;

/// <summary>
/// A Gated DeltaNet layer with random weights: a sequence's tokens given as one batch (the chunked delta rule) and one
/// token at a time (the recurrence) must give the same outputs and leave the same state.
/// </summary>
public sealed unsafe class GatedDeltaNetTests : IDisposable
{
    // Head sizes off the 8- and 16-float blocks of the kernels; two value heads per key head.
    static readonly GatedDeltaNetShape Shape = new(KeyHeads: 2, ValueHeads: 4, KeyDim: 20, ValueDim: 24, ConvKernel: 4, GroupedValueHeads: false);
    const int Embedding = 48;

    readonly List<NativeBuffer<float>> _buffers = [];
    readonly MatMul _matMul = new(new WorkerPool(2));
    readonly ForwardContext _context;
    readonly GatedDeltaNet _layer;

    public GatedDeltaNetTests()
    {
        _context = new ForwardContext(_matMul);
        var random = new Random(7);
        int valueWidth = Shape.ValueHeads * Shape.ValueDim;
        var weights = new GatedDeltaNetWeights(
            Weight(random, "attn_qkv", Embedding, Shape.Channels, 1),
            Weight(random, "attn_gate", Embedding, valueWidth, 1),
            Weight(random, "ssm_beta", Embedding, Shape.ValueHeads, 1),
            Weight(random, "ssm_alpha", Embedding, Shape.ValueHeads, 1),
            // Decay rates −e^x as from A_log, and biases that give per-token decays from near 0 to near 1.
            Values(random, Shape.ValueHeads, 1).Select(x => -MathF.Exp(x)).ToArray(),
            Values(random, Shape.ValueHeads, 2),
            Values(random, Shape.Channels * Shape.ConvKernel, 0.5f),
            Values(random, Shape.ValueDim, 1).Select(x => 1 + 0.2f * x).ToArray(),
            Weight(random, "ssm_out", valueWidth, Embedding, 1));
        _layer = new GatedDeltaNet(0, weights, Shape, 1e-6f);
    }

    public static TheoryData<int> Lengths() =>
        new(GatedDeltaNet.MinimumChunkTokens, DeltaRuleChunk.Capacity, 2 * DeltaRuleChunk.Capacity + GatedDeltaNet.MinimumChunkTokens + 5);

    [Theory]
    [MemberData(nameof(Lengths))]
    public void One_batch_matches_token_by_token(int length)
    {
        var input = RandomRows(new Random(length), length);
        using var batched = new SequenceState(1, 4096);
        using var stepped = new SequenceState(1, 4096);
        // A first batch leaves a state that is not zero for the second, chunked one to start from.
        var firstBatched = Run([(batched, input[..3])]);
        var firstStepped = StepThrough(stepped, input[..3]);
        AssertClose(firstStepped, firstBatched, "outputs of the first tokens");

        var expected = StepThrough(stepped, input[3..]);
        var actual = Run([(batched, input[3..])]);

        AssertClose(expected, actual, "outputs");
        AssertSameState(stepped, batched);
    }

    [Fact]
    public void Two_sequences_in_one_batch_each_match_token_by_token()
    {
        int first = DeltaRuleChunk.Capacity + 11, second = 2 * GatedDeltaNet.MinimumChunkTokens + 1;
        var inputA = RandomRows(new Random(1), first);
        var inputB = RandomRows(new Random(2), second);
        using var a = new SequenceState(1, 4096);
        using var b = new SequenceState(1, 4096);
        using var steppedA = new SequenceState(1, 4096);
        using var steppedB = new SequenceState(1, 4096);

        // A's rows come in two pieces around B's, as nothing in a batch keeps a sequence's rows together.
        var actual = Run([(a, inputA[..20]), (b, inputB), (a, inputA[20..])]);
        var expectedA = StepThrough(steppedA, inputA);
        var expectedB = StepThrough(steppedB, inputB);

        var expected = expectedA[..20].Concat(expectedB).Concat(expectedA[20..]).ToArray();
        AssertClose(expected, actual, "outputs");
        AssertSameState(steppedA, a);
        AssertSameState(steppedB, b);
    }

    /// <summary>Runs one batch made of the given pieces in order; returns each row's output.</summary>
    float[][] Run((SequenceState Sequence, float[][] Rows)[] pieces)
    {
        var batch = new ForwardBatch();
        var rows = pieces.SelectMany(piece => piece.Rows).ToArray();
        foreach (var (sequence, pieceRows) in pieces)
            foreach (var _ in pieceRows)
                batch.Add(sequence, 0, wantLogits: false);
        using var input = new NativeBuffer<float>((long)rows.Length * Embedding);
        using var output = new NativeBuffer<float>((long)rows.Length * Embedding);
        for (int t = 0; t < rows.Length; t++)
            rows[t].CopyTo(input.Slice((long)t * Embedding, Embedding));
        _context.Batch = batch;
        _layer.Forward(_context, input, output);
        batch.Commit();
        return Enumerable.Range(0, rows.Length).Select(t => output.Slice((long)t * Embedding, Embedding).ToArray()).ToArray();
    }

    float[][] StepThrough(SequenceState sequence, float[][] rows) => rows.Select(row => Run([(sequence, [row])])[0]).ToArray();

    static void AssertClose(float[][] expected, float[][] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float largest = expected.SelectMany(row => row).Max(MathF.Abs);
        for (int t = 0; t < expected.Length; t++)
            for (int i = 0; i < expected[t].Length; i++)
                Assert.True(MathF.Abs(expected[t][i] - actual[t][i]) <= 2e-5f * largest,
                    $"{what}: row {t}, value {i}: {actual[t][i]} vs {expected[t][i]} (largest {largest})");
    }

    static void AssertSameState(SequenceState expected, SequenceState actual)
    {
        var expectedState = expected.LayerState<DeltaNetState>(0, () => throw new InvalidOperationException("no state"));
        var actualState = actual.LayerState<DeltaNetState>(0, () => throw new InvalidOperationException("no state"));
        Assert.Equal(expectedState.ConvolutionWindow.Span.ToArray(), actualState.ConvolutionWindow.Span.ToArray());
        var memory = expectedState.Memory.Span;
        float largest = TensorMax(memory);
        Assert.True(largest > 0.01f, "the state stayed near zero; the test would not see a difference");
        for (int i = 0; i < memory.Length; i++)
            Assert.True(MathF.Abs(memory[i] - actualState.Memory.Span[i]) <= 2e-5f * largest,
                $"state value {i}: {actualState.Memory.Span[i]} vs {memory[i]} (largest {largest})");
    }

    static float TensorMax(ReadOnlySpan<float> values)
    {
        float largest = 0;
        foreach (float v in values)
            largest = MathF.Max(largest, MathF.Abs(v));
        return largest;
    }

    static float[][] RandomRows(Random random, int count) => Enumerable.Range(0, count).Select(_ => Values(random, Embedding, 1)).ToArray();

    static float[] Values(Random random, int count, float size) =>
        Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1) * size).ToArray();

    WeightTensor Weight(Random random, string name, int rowLength, int rows, float size)
    {
        var buffer = new NativeBuffer<float>((long)rowLength * rows);
        _buffers.Add(buffer);
        Values(random, rowLength * rows, size / MathF.Sqrt(rowLength)).CopyTo(buffer.Span);
        return new WeightTensor(name, GgmlType.F32, [rowLength, rows], (byte*)buffer.Pointer);
    }

    public void Dispose()
    {
        _context.Dispose();
        _matMul.Dispose();
        _matMul.Pool.Dispose();
        foreach (var buffer in _buffers)
            buffer.Dispose();
    }
}
