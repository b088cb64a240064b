using ModelGrid.Engine.Generation;

namespace ModelGrid.Engine.Tests.Generation;

public sealed class SamplerTests
{
    static float[] Logits() => [0.5f, 2.0f, 1.0f, -1.0f, 1.9f, 0.0f];

    [Fact]
    public void Temperature_zero_is_argmax() =>
        Assert.Equal(1, new Sampler(SamplingOptions.Greedy).Sample(Logits(), []));

    [Fact]
    public void Top_k_one_always_picks_the_best_token()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 5, TopK = 1, Seed = 3 });
        for (int i = 0; i < 50; i++)
            Assert.Equal(1, sampler.Sample(Logits(), []));
    }

    [Fact]
    public void Same_seed_same_choices_and_different_seeds_differ()
    {
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = 2, TopK = 0, TopP = 1, MinP = 0, Seed = seed });
            return Enumerable.Range(0, 64).Select(_ => sampler.Sample(Logits(), [])).ToArray();
        }
        Assert.Equal(Draw(11), Draw(11));
        Assert.NotEqual(Draw(11), Draw(12));
    }

    [Fact]
    public void Sampling_follows_the_softmax_distribution()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = 5 });
        float[] logits = [0f, MathF.Log(3)];
        int ones = Enumerable.Range(0, 20000).Count(_ => sampler.Sample((float[])logits.Clone(), []) == 1);
        Assert.InRange(ones / 20000.0, 0.73, 0.77);
    }

    [Fact]
    public void Top_p_keeps_only_the_nucleus()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 0.5f, MinP = 0, Seed = 1 });
        float[] logits = [MathF.Log(0.6f), MathF.Log(0.3f), MathF.Log(0.1f)];
        for (int i = 0; i < 200; i++)
            Assert.Equal(0, sampler.Sample((float[])logits.Clone(), []));
    }

    [Fact]
    public void Min_p_drops_tokens_far_below_the_best()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0.5f, Seed = 2 });
        float[] logits = [MathF.Log(0.5f), MathF.Log(0.3f), MathF.Log(0.2f)];
        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample((float[])logits.Clone(), [])).ToHashSet();
        Assert.Equal([0, 1], seen.Order());
    }

    [Fact]
    public void Logit_bias_can_force_a_token()
    {
        var sampler = new Sampler(SamplingOptions.Greedy with { LogitBias = new Dictionary<int, float> { [3] = 100 } });
        Assert.Equal(3, sampler.Sample(Logits(), []));
    }

    [Fact]
    public void Penalties_apply_to_recent_tokens_only()
    {
        var logits = Logits();
        var sampler = new Sampler(SamplingOptions.Greedy with { RepetitionPenalty = 2, PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, PenaltyWindow = 3 });
        sampler.ApplyBiasAndPenalties(logits, [1, 3, 1, 2, 2]);
        // Window holds [1, 2, 2]: token 1 once, token 2 twice; token 3 fell out of the window.
        Assert.Equal(2.0f / 2 - 0.5f - 0.25f, logits[1]);
        Assert.Equal(1.0f / 2 - 0.5f - 0.5f, logits[2]);
        Assert.Equal(-1.0f, logits[3]);
        Assert.Equal(1.9f, logits[4]);
    }

    [Theory]
    [InlineData("temperature")]
    [InlineData("top_p")]
    [InlineData("min_p")]
    public void Out_of_range_parameters_are_named(string name)
    {
        var options = name switch
        {
            "temperature" => new SamplingOptions { Temperature = -1 },
            "top_p" => new SamplingOptions { TopP = 0 },
            _ => new SamplingOptions { MinP = 2 },
        };
        Assert.Equal(name, Assert.Throws<ArgumentException>(() => new Sampler(options)).ParamName);
    }
}
