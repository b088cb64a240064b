using System.Numerics.Tensors;

namespace ModelGrid.Engine.Generation;

/// <summary>
/// Turns logits into a token: logit bias, penalties over recent tokens, then greedy or temperature sampling
/// restricted by top-k, top-p and min-p. Deterministic for a given seed; one instance per sequence.
/// </summary>
public sealed class Sampler
{
    readonly SamplingOptions _options;
    readonly Random _random;
    readonly Dictionary<int, int> _counts = new();
    int[] _order = [];
    float[] _probabilities = [];
    float[] _sortKeys = [];

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(unchecked((int)(options.Seed ?? (ulong)Random.Shared.NextInt64())) ^ (int)((options.Seed ?? 0) >> 32));
    }

    /// <summary>Applies bias and penalties to <paramref name="logits"/> in place, then picks a token.</summary>
    /// <param name="recentTokens">The sequence so far; only its last PenaltyWindow tokens count.</param>
    public int Sample(Span<float> logits, ReadOnlySpan<int> recentTokens)
    {
        ApplyBiasAndPenalties(logits, recentTokens);
        if (_options.Temperature <= 0)
            return ArgMax(logits);
        return SampleWithTemperature(logits);
    }

    /// <summary>log softmax(logits)[token], for logprobs reporting.</summary>
    public static float LogProbability(ReadOnlySpan<float> logits, int token)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits)
            sum += Math.Exp(l - max);
        return (float)(logits[token] - max - Math.Log(sum));
    }

    public void ApplyBiasAndPenalties(Span<float> logits, ReadOnlySpan<int> recentTokens)
    {
        if (_options.LogitBias is { } bias)
            foreach (var (token, value) in bias)
                if ((uint)token < (uint)logits.Length)
                    logits[token] += value;

        bool penalize = _options.RepetitionPenalty != 1 || _options.PresencePenalty != 0 || _options.FrequencyPenalty != 0;
        if (!penalize || _options.PenaltyWindow == 0)
            return;
        _counts.Clear();
        foreach (int token in recentTokens[Math.Max(0, recentTokens.Length - _options.PenaltyWindow)..])
            if ((uint)token < (uint)logits.Length)
                _counts[token] = _counts.GetValueOrDefault(token) + 1;
        foreach (var (token, count) in _counts)
        {
            ref float logit = ref logits[token];
            logit = logit > 0 ? logit / _options.RepetitionPenalty : logit * _options.RepetitionPenalty;
            logit -= _options.PresencePenalty + count * _options.FrequencyPenalty;
        }
    }

    int SampleWithTemperature(ReadOnlySpan<float> logits)
    {
        int n = logits.Length;
        if (_order.Length < n)
        {
            _order = new int[n];
            _probabilities = new float[n];
        }
        var order = _order.AsSpan(0, n);
        for (int i = 0; i < n; i++)
            order[i] = i;
        int count = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        PartialSortDescending(logits, order, count);
        var candidates = order[..count];

        var probabilities = _probabilities.AsSpan(0, count);
        float max = logits[candidates[0]];
        float sum = 0;
        for (int i = 0; i < count; i++)
        {
            probabilities[i] = MathF.Exp((logits[candidates[i]] - max) / _options.Temperature);
            sum += probabilities[i];
        }
        // min-p and top-p on the tempered distribution (llama.cpp's default order applies temperature last,
        // but with the same temperature the set kept by min-p is the same up to how p is scaled).
        int kept = count;
        if (_options.MinP > 0)
        {
            float threshold = _options.MinP * probabilities[0];
            while (kept > 1 && probabilities[kept - 1] < threshold)
                kept--;
        }
        if (_options.TopP < 1)
        {
            float total = 0;
            for (int i = 0; i < kept; i++)
                total += probabilities[i];
            float cumulative = 0;
            for (int i = 0; i < kept; i++)
            {
                cumulative += probabilities[i];
                if (cumulative >= _options.TopP * total)
                {
                    kept = i + 1;
                    break;
                }
            }
        }
        float keptSum = 0;
        for (int i = 0; i < kept; i++)
            keptSum += probabilities[i];
        double draw = _random.NextDouble() * keptSum;
        for (int i = 0; i < kept; i++)
        {
            draw -= probabilities[i];
            if (draw <= 0)
                return candidates[i];
        }
        return candidates[kept - 1];
    }

    /// <summary>Puts the <paramref name="count"/> largest logits' ids first in <paramref name="order"/>, largest first.</summary>
    void PartialSortDescending(ReadOnlySpan<float> logits, Span<int> order, int count)
    {
        if (count <= 256)
        {
            // Insertion into a short sorted prefix: one pass over the vocabulary, no allocation.
            int filled = 0;
            for (int id = 0; id < logits.Length; id++)
            {
                float value = logits[id];
                if (filled == count && value <= logits[order[filled - 1]])
                    continue;
                int at = filled < count ? filled++ : count - 1;
                while (at > 0 && logits[order[at - 1]] < value)
                {
                    order[at] = order[at - 1];
                    at--;
                }
                order[at] = id;
            }
            return;
        }
        if (_sortKeys.Length < logits.Length)
            _sortKeys = new float[logits.Length];
        var keys = _sortKeys.AsSpan(0, logits.Length);
        TensorPrimitives.Negate(logits, keys);
        keys.Sort(order);
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }
}
