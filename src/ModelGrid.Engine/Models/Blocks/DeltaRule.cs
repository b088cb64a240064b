using System.Numerics.Tensors;
using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>
/// The gated delta rule of one value head, S ← e^g·S; S += k ⊗ β(v − Sᵀk); o = Sᵀq, with S a dk×dv matrix, in two
/// forms that give the same result: <see cref="Step"/> for one token and <see cref="Chunk"/> for a run of tokens.
/// </summary>
public static unsafe class DeltaRule
{
    /// <summary>
    /// One token. Two passes over S (dk × dv) instead of three: with S' = e^g·S, S'ᵀk = e^g·(Sᵀk), and the decay, the
    /// rank-one update S' + k ⊗ δ and the read-out o = (S' + k ⊗ δ)ᵀq share the second pass. <paramref name="delta"/>
    /// is scratch of dv values.
    /// </summary>
    public static void Step(float* state, float* query, float* key, float* value, float beta, float decay, float* output, float* delta, int dk, int dv)
    {
        new Span<float>(delta, dv).Clear();
        for (int i = 0; i < dk; i++)
            VectorMath.MultiplyAdd(delta, state + i * dv, key[i], dv);
        for (int j = 0; j < dv; j++)
            delta[j] = (value[j] - decay * delta[j]) * beta;
        new Span<float>(output, dv).Clear();
        for (int i = 0; i < dk; i++)
        {
            float* row = state + i * dv;
            VectorMath.ScaleAdd(row, decay, delta, key[i], dv);
            VectorMath.MultiplyAdd(output, row, query[i], dv);
        }
    }

    /// <summary>
    /// A run of up to <see cref="DeltaRuleChunk.Capacity"/> tokens at once, in the WY form of flash-linear-attention's
    /// chunk_gated_delta_rule (as in Hugging Face's torch_chunk_gated_delta_rule): with G the cumulative log-decay
    /// within the run and D[i][j] = e^{Gᵢ−Gⱼ},
    /// T = (I − A)⁻¹ for A = −(βK)Kᵀ∘D strictly below the diagonal, U = T(βV), W = T(βK∘e^G), then
    /// V' = U − W·S, O = (Q∘e^G)·S + (QKᵀ∘D, lower with the diagonal)·V', S ← e^{G_last}·S + (K∘e^{G_last−G})ᵀV'.
    /// The token-by-token rank-one updates become products of small matrices. Reads the run's queries, keys, values,
    /// β and log-decays from <paramref name="chunk"/> (and overwrites them), updates <paramref name="state"/> and writes
    /// the outputs (tokens × dv) to <see cref="DeltaRuleChunk.Outputs"/>.
    /// </summary>
    public static void Chunk(DeltaRuleChunk chunk, int tokens, Span<float> state)
    {
        int dk = chunk.KeyDim, dv = chunk.ValueDim, stride = dv + dk;
        ArgumentOutOfRangeException.ThrowIfGreaterThan(tokens, DeltaRuleChunk.Capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tokens);
        if (state.Length != dk * dv)
            throw new ArgumentException($"the state holds {state.Length} values, not {dk}×{dv}", nameof(state));
        // Padded to whole SIMD blocks with tokens of zero q, k, v, β and log-decay, which change neither S nor G_last.
        int c = (tokens + 7) & ~7;
        chunk.Queries.AsSpan(tokens * dk, (c - tokens) * dk).Clear();
        chunk.Keys.AsSpan(tokens * dk, (c - tokens) * dk).Clear();
        chunk.Values.AsSpan(tokens * dv, (c - tokens) * dv).Clear();
        chunk.Beta.AsSpan(tokens, c - tokens).Clear();
        chunk.LogDecays.AsSpan(tokens, c - tokens).Clear();
        Span<float> queries = chunk.Queries, keys = chunk.Keys, transposedKeys = chunk.TransposedKeys;
        Span<float> cumulative = chunk.LogDecays.AsSpan(0, c), beta = chunk.Beta;
        for (int i = 1; i < c; i++)
            cumulative[i] += cumulative[i - 1];

        SmallMatrix.Transpose(keys, dk, transposedKeys, c, dk);
        Span<float> keyProducts = chunk.KeyProducts.AsSpan(0, c * c), attention = chunk.Attention.AsSpan(0, c * c);
        keyProducts.Clear();
        attention.Clear();
        SmallMatrix.MultiplyAdd(keys, dk, transposedKeys, c, keyProducts, c, c, dk, c);
        SmallMatrix.MultiplyAdd(queries, dk, transposedKeys, c, attention, c, c, dk, c);
        for (int i = 0; i < c; i++)
        {
            var keyRow = keyProducts.Slice(i * c, c);
            var attentionRow = attention.Slice(i * c, c);
            for (int j = 0; j < i; j++)
            {
                float decay = MathF.Exp(cumulative[i] - cumulative[j]);
                keyRow[j] *= -beta[i] * decay;
                attentionRow[j] *= decay;
            }
            keyRow[i..].Clear();
            attentionRow[(i + 1)..].Clear();
        }
        var transform = chunk.Transform.AsSpan(0, c * c);
        SmallMatrix.InvertUnitLowerTriangular(keyProducts, transform, c, c);

        // One product gives both halves: [U | −W] = T·[βV | −βK∘e^G].
        Span<float> weighted = chunk.Weighted, updates = chunk.Updates.AsSpan(0, c * stride);
        for (int i = 0; i < c; i++)
        {
            var row = weighted.Slice(i * stride, stride);
            TensorPrimitives.Multiply(chunk.Values.AsSpan(i * dv, dv), beta[i], row[..dv]);
            TensorPrimitives.Multiply(keys.Slice(i * dk, dk), -beta[i] * MathF.Exp(cumulative[i]), row[dv..]);
        }
        updates.Clear();
        SmallMatrix.MultiplyAdd(transform, c, weighted, stride, updates, stride, c, c, stride, lowerTriangularA: true);
        // V' = U + (−W)·S, in place of U.
        SmallMatrix.MultiplyAdd(updates[dv..], stride, state, dv, updates, stride, c, dk, dv);

        for (int i = 0; i < c; i++)
            TensorPrimitives.Multiply(queries.Slice(i * dk, dk), MathF.Exp(cumulative[i]), queries.Slice(i * dk, dk));
        var outputs = chunk.Outputs.AsSpan(0, c * dv);
        outputs.Clear();
        SmallMatrix.MultiplyAdd(queries, dk, state, dv, outputs, dv, c, dk, dv);
        SmallMatrix.MultiplyAdd(attention, c, updates, stride, outputs, dv, c, c, dv, lowerTriangularA: true);

        float last = cumulative[c - 1];
        TensorPrimitives.Multiply(state, MathF.Exp(last), state);
        for (int j = 0; j < c; j++)
            chunk.Scratch[j] = MathF.Exp(last - cumulative[j]);
        for (int i = 0; i < dk; i++)
            TensorPrimitives.Multiply(transposedKeys.Slice(i * c, c), chunk.Scratch.AsSpan(0, c), transposedKeys.Slice(i * c, c));
        SmallMatrix.MultiplyAdd(transposedKeys, c, updates, stride, state, dv, dk, c, dv);
    }
}

/// <summary>
/// Buffers of one <see cref="DeltaRule.Chunk"/> call for heads of dk × dv: the caller fills the first rows (one per token) of
/// <see cref="Queries"/>, <see cref="Keys"/>, <see cref="Values"/> and the first c entries of <see cref="Beta"/> and
/// <see cref="LogDecays"/>. One per thread; reused from chunk to chunk.
/// </summary>
public sealed class DeltaRuleChunk(int keyDim, int valueDim)
{
    /// <summary>
    /// Tokens per chunk, a multiple of 8. Hugging Face uses 64; on a CPU 16 is faster (measured with dk = dv = 128): the
    /// C×C products grow with C while the three dk×dv products per token do not.
    /// </summary>
    public const int Capacity = 16;

    public int KeyDim => keyDim;
    public int ValueDim => valueDim;

    public float[] Queries { get; } = new float[Capacity * keyDim];
    public float[] Keys { get; } = new float[Capacity * keyDim];
    public float[] Values { get; } = new float[Capacity * valueDim];
    public float[] Beta { get; } = new float[Capacity];
    public float[] LogDecays { get; } = new float[Capacity];
    public float[] Outputs { get; } = new float[Capacity * valueDim];

    internal float[] TransposedKeys { get; } = new float[keyDim * Capacity];
    internal float[] KeyProducts { get; } = new float[Capacity * Capacity];
    internal float[] Attention { get; } = new float[Capacity * Capacity];
    internal float[] Transform { get; } = new float[Capacity * Capacity];
    internal float[] Weighted { get; } = new float[Capacity * (valueDim + keyDim)];
    internal float[] Updates { get; } = new float[Capacity * (valueDim + keyDim)];
    internal float[] Scratch { get; } = new float[Capacity];
}
