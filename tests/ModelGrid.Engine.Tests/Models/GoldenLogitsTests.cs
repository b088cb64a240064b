using System.Text.Json.Nodes;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Tests.Models;

/// <summary>
/// Every model and prompt in golden/expected/ against llama.cpp's reference logits, with the pass criteria of
/// golden/README.md. Architectures the engine does not register must fail with the unsupported-architecture error.
/// </summary>
public sealed class GoldenLogitsTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in Directory.EnumerateFiles(Golden.Path("expected"), "*.json").Order())
        {
            string[] parts = Path.GetFileName(file).Split('.');
            if (parts.Length == 3)
                data.Add(parts[0], parts[1]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prompt_as_one_batch_matches_reference(string model, string prompt) => Check(model, prompt, tokenByToken: false);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Prompt_token_by_token_matches_reference(string model, string prompt) => Check(model, prompt, tokenByToken: true);

    static void Check(string model, string prompt, bool tokenByToken)
    {
        var expected = GoldenCase.Load(model, prompt);
        using var source = ModelSource.Open(expected.ModelPath);
        if (!ModelRegistry.IsSupported(source.Architecture))
        {
            var error = Assert.Throws<UnsupportedArchitectureException>(() => ModelRegistry.Load(source, new ModelOptions()));
            Assert.Contains($"'{source.Architecture}'", error.Message);
            return;
        }

        using var decoder = ModelRegistry.Load(source, new ModelOptions { Threads = 2 });
        Assert.Equal(expected.VocabSize, decoder.VocabSize);
        using var sequence = decoder.CreateSequence();
        int n = expected.PromptIds.Length, vocab = decoder.VocabSize;
        var logits = new float[n * vocab];
        var batch = new ForwardBatch();
        if (tokenByToken)
        {
            for (int i = 0; i < n; i++)
            {
                batch.Add(sequence, expected.PromptIds[i], wantLogits: true);
                decoder.Forward(batch, logits.AsSpan(i * vocab, vocab));
            }
        }
        else
        {
            batch.Add(sequence, expected.PromptIds, logitsForAll: true);
            decoder.Forward(batch, logits);
        }

        double relativeRms = GoldenCase.RelativeRms(logits, expected.Logits);
        Assert.True(relativeRms <= expected.Tolerance, $"relative RMS {relativeRms:E3} exceeds tolerance {expected.Tolerance:E3}");
        for (int i = 0; i < n; i++)
        {
            var reference = expected.Logits.AsSpan(i * vocab, vocab);
            if (GoldenCase.Margin(reference) >= expected.MarginThreshold)
                Assert.True(GoldenCase.ArgMax(reference) == GoldenCase.ArgMax(logits.AsSpan(i * vocab, vocab)), $"argmax differs at position {i}");
        }

        var next = logits.AsSpan((n - 1) * vocab, vocab).ToArray();
        for (int step = 0; step < expected.GreedyIds.Length && expected.GreedyMargins[step] >= expected.MarginThreshold; step++)
        {
            int token = GoldenCase.ArgMax(next);
            Assert.True(expected.GreedyIds[step] == token, $"greedy step {step}: got {token}, expected {expected.GreedyIds[step]}");
            batch.Add(sequence, token, wantLogits: true);
            decoder.Forward(batch, next);
        }
    }
}

/// <summary>One golden/expected/M.P.json with its logits file and the README's pass thresholds.</summary>
public sealed record GoldenCase(string ModelPath, int VocabSize, int[] PromptIds, float[] Logits, int[] GreedyIds, double[] GreedyMargins,
    string GreedyBytesHex, string Prompt, double Tolerance)
{
    public double MarginThreshold => Math.Max(0.1, 20 * Tolerance);

    public static GoldenCase Load(string model, string prompt)
    {
        var json = JsonNode.Parse(File.ReadAllText(Golden.Path("expected", $"{model}.{prompt}.json")))!;
        string gguf = Golden.Path("models", model + ".gguf");
        string path = File.Exists(gguf) ? gguf : Golden.Path("models", model);
        var bytes = File.ReadAllBytes(Golden.Path("expected", $"{model}.{prompt}.logits.f32"));
        var logits = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, logits, 0, bytes.Length);
        double native = (double?)json["llama_cpp_native_rel_rms"] ?? 0;
        return new GoldenCase(path, (int)json["n_vocab"]!,
            json["prompt_ids"]!.AsArray().Select(v => (int)v!).ToArray(), logits,
            json["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray(),
            json["greedy_margins"]!.AsArray().Select(v => (double)v!).ToArray(),
            (string)json["greedy_bytes_hex"]!, (string)json["prompt"]!, Math.Max(0.002, 1.5 * native));
    }

    public static double RelativeRms(ReadOnlySpan<float> actual, ReadOnlySpan<float> reference)
    {
        Assert.Equal(reference.Length, actual.Length);
        double error = 0, power = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double d = actual[i] - reference[i];
            error += d * d;
            power += (double)reference[i] * reference[i];
        }
        return Math.Sqrt(error / power);
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best])
                best = i;
        return best;
    }

    public static double Margin(ReadOnlySpan<float> values)
    {
        int top = ArgMax(values);
        float second = float.NegativeInfinity;
        for (int i = 0; i < values.Length; i++)
            if (i != top && values[i] > second)
                second = values[i];
        return values[top] - second;
    }
}
