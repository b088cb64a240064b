namespace ModelGrid.Engine.Generation;

/// <summary>
/// How the next token is chosen from the logits. Defaults follow llama.cpp's; <see cref="Temperature"/> 0 is greedy.
/// Penalties look at the last <see cref="PenaltyWindow"/> tokens (prompt included), as llama.cpp's do.
/// </summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep only the k most likely tokens; 0 disables.</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Keep the smallest set of tokens whose probability sums to at least p; 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Drop tokens less likely than min_p times the most likely one; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>Divides positive logits (multiplies negative ones) of tokens seen recently; 1 disables.</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>Subtracted once from the logit of every token seen recently (OpenAI presence_penalty).</summary>
    public float PresencePenalty { get; init; }
    /// <summary>Subtracted per occurrence from the logit of tokens seen recently (OpenAI frequency_penalty).</summary>
    public float FrequencyPenalty { get; init; }
    public int PenaltyWindow { get; init; } = 64;
    /// <summary>Added to the logits of the given token ids before anything else (OpenAI logit_bias).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }
    /// <summary>The same seed with the same inputs gives the same tokens; null draws a random seed.</summary>
    public ulong? Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0, TopK = 0, TopP = 1, MinP = 0 };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first parameter out of range.</summary>
    public void Validate()
    {
        static void Check(bool ok, string name, object value, string range)
        {
            if (!ok)
                throw new ArgumentException($"{name} = {value} is out of range ({range})", name);
        }
        Check(Temperature is >= 0 and <= 100 && !float.IsNaN(Temperature), "temperature", Temperature, "0..100");
        Check(TopK >= 0, "top_k", TopK, ">= 0");
        Check(TopP is > 0 and <= 1, "top_p", TopP, "(0, 1]");
        Check(MinP is >= 0 and <= 1, "min_p", MinP, "[0, 1]");
        Check(RepetitionPenalty is > 0 and <= 100, "repetition_penalty", RepetitionPenalty, "(0, 100]");
        Check(PresencePenalty is >= -2 and <= 2, "presence_penalty", PresencePenalty, "[-2, 2]");
        Check(FrequencyPenalty is >= -2 and <= 2, "frequency_penalty", FrequencyPenalty, "[-2, 2]");
        Check(PenaltyWindow >= 0, "penalty_window", PenaltyWindow, ">= 0");
    }
}
