using System.Text.Json.Nodes;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Tests.Models;

/// <summary>
/// Criterion 4 of golden/vision/README.md: the text model fed image embeddings (with deepstack features) at M-RoPE
/// positions (t, row, column) reproduces llama.cpp's logits at every row, and the greedy continuation.
/// </summary>
public sealed class ImageRowsTextSideTests
{
    const double Tolerance = 2e-4;

    public static TheoryData<string> Cases() =>
        new(Directory.EnumerateFiles(Golden.Path("vision", "expected"), "*.json").Select(f => Path.GetFileNameWithoutExtension(f)).Order());

    /// <summary>Criterion 4a: the reference embeddings in, tolerance 2e-4.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Text_model_with_reference_image_embeddings_matches_reference_logits(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Golden.Path("vision", "expected", name + ".json")))!;
        Check(name, json, ReadFloats(Golden.Path("vision", "expected", name + ".embd.f32")), (int)json["n_embd_mmproj"]!, Tolerance);
    }

    /// <summary>Criterion 4b: end to end, the engine's own vision tower encodes the image file.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Text_model_with_the_engines_own_image_embeddings_matches_reference_logits(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Golden.Path("vision", "expected", name + ".json")))!;
        using var vision = ModelGrid.Engine.Vision.VisionEncoder.Load(Golden.Path("vision", "models", (string)json["mmproj"]!), threads: 2);
        var image = vision.Encode(vision.Preprocess(File.ReadAllBytes(Golden.Path("vision", "images", (string)json["image"]!))));
        double tolerance = Math.Max(0.002, 1.5 * (double)json["logits_rel_rms_exact_embd_vs_llama_cpp"]!);
        Check(name, json, image.Embeddings, image.Width, tolerance);
    }

    static void Check(string name, JsonNode json, float[] embeddings, int rowWidth, double tolerance)
    {
        using var source = ModelSource.Open(Golden.Path("vision", "models", (string)json["model"]!));
        if (!ModelRegistry.IsSupported(source.Architecture))
        {
            Assert.Throws<UnsupportedArchitectureException>(() => ModelRegistry.Load(source, new ModelOptions()));
            return;
        }
        using var decoder = ModelRegistry.Load(source, new ModelOptions { Threads = 2 });
        using var sequence = decoder.CreateSequence();
        var batch = new ForwardBatch();
        foreach (var chunk in json["chunks"]!.AsArray())
        {
            if ((string)chunk!["type"]! == "text")
                batch.Add(sequence, chunk["ids"]!.AsArray().Select(v => (int)v!).ToArray(), logitsForAll: true);
            else
                batch.AddEmbeddings(sequence, embeddings, rowWidth, (int)chunk["grid_w"]!, (int)chunk["grid_h"]!, logitsForAll: true);
        }

        var positions = json["positions_thw"]!.AsArray();
        Assert.Equal(positions.Count, batch.Count);
        for (int i = 0; i < batch.Count; i++)
        {
            var p = positions[i]!.AsArray();
            Assert.Equal(((int)p[0]!, (int)p[1]!, (int)p[2]!), (batch.RopePosition(i).Time, batch.RopePosition(i).Height, batch.RopePosition(i).Width));
        }

        int vocab = decoder.VocabSize;
        var logits = new float[batch.Count * vocab];
        decoder.Forward(batch, logits);
        float[] reference = ReadFloats(Golden.Path("vision", "expected", name + ".logits.f32"));
        double relativeRms = GoldenCase.RelativeRms(logits, reference);
        Assert.True(relativeRms <= tolerance, $"{name}: relative RMS {relativeRms:E3} exceeds {tolerance:E2}");
        double marginThreshold = Math.Max(0.1, 20 * tolerance);
        for (int row = 0; row < reference.Length / vocab; row++)
        {
            var expectedRow = reference.AsSpan(row * vocab, vocab);
            if (GoldenCase.Margin(expectedRow) >= marginThreshold)
                Assert.True(GoldenCase.ArgMax(expectedRow) == GoldenCase.ArgMax(logits.AsSpan(row * vocab, vocab)), $"argmax differs at row {row}");
        }

        Assert.Equal((int)json["n_past_after_prompt"]!, sequence.NextRopePosition);
        int[] greedy = json["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray();
        double[] margins = json["greedy_margins"]!.AsArray().Select(v => (double)v!).ToArray();
        var next = logits.AsSpan(logits.Length - vocab).ToArray();
        for (int step = 0; step < greedy.Length && margins[step] >= marginThreshold; step++)
        {
            int token = GoldenCase.ArgMax(next);
            Assert.True(greedy[step] == token, $"greedy step {step}: got {token}, expected {greedy[step]}");
            batch.Add(sequence, token, wantLogits: true);
            decoder.Forward(batch, next);
        }
    }

    static float[] ReadFloats(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
