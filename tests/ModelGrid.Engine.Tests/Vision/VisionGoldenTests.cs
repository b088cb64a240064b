using Xunit.Abstractions;
using ModelGrid.Engine.Tests.Models;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

/// <summary>
/// Criteria 1-3 of golden/vision/README.md for every case in golden/vision/expected/, through the public API, with the
/// tower loaded from the mmproj GGUF and, where the set has it, from the Hugging Face folder of the same tower.
/// </summary>
public sealed class VisionGoldenTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (string name in VisionGoldenCase.Names())
        {
            data.Add(name, "gguf");
            if (VisionGoldenCase.Load(name).HuggingFaceFolder is not null)
                data.Add(name, "hf");
        }
        return data;
    }

    static VisionEncoder LoadEncoder(VisionGoldenCase golden, string layout) =>
        VisionEncoder.Load(layout == "hf" ? golden.HuggingFaceFolder! : golden.MmprojPath, threads: 2);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Preprocessed_pixels_match_reference(string name, string layout)
    {
        var golden = VisionGoldenCase.Load(name);
        using var encoder = LoadEncoder(golden, layout);
        var image = encoder.Preprocess(File.ReadAllBytes(golden.ImagePath));

        Assert.Equal(golden.PreprocessedSize, (image.Width, image.Height));
        Assert.Equal(golden.Grid, (image.GridWidth, image.GridHeight));
        var reference = golden.Reference("pixels.f32");
        int plane = image.Width * image.Height;
        Assert.Equal(3 * plane, reference.Length);
        var mean = encoder.Preprocessor.Mean;
        var std = encoder.Preprocessor.Std;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < plane; i++)
            {
                // The reference was rounded to f16 by ggml's im2col; its u8 value is still recoverable exactly.
                float x = reference[c * plane + i];
                int expectedByte = (int)Math.Round((x * std[c] + mean[c]) * 255.0);
                int actualByte = image.Canvas.Pixels[3 * i + c];
                Assert.True(expectedByte == actualByte, $"channel {c}, pixel ({i % image.Width}, {i / image.Width}): u8 {actualByte}, reference {expectedByte}");
                float actual = image.Pixels[c * plane + i];
                Assert.True(Math.Abs(actual - x) <= Math.Abs(x) / 2048 + 1.0 / (1 << 25),
                    $"channel {c}, pixel {i}: normalized {actual} vs reference {x} beyond f16 rounding");
            }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tower_stages_and_embeddings_match_reference(string name, string layout)
    {
        var golden = VisionGoldenCase.Load(name);
        using var encoder = LoadEncoder(golden, layout);
        var image = encoder.Preprocess(File.ReadAllBytes(golden.ImagePath));
        var stages = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var embedding = encoder.Encode(image, (stage, values) => stages[stage] = values.ToArray());

        foreach (var (stage, shape, file) in golden.Stages)
        {
            Assert.True(stages.ContainsKey(stage), $"the encoder reported no stage '{stage}' (reported: {string.Join(", ", stages.Keys)})");
            var reference = VisionGoldenCase.ReadFloats(file);
            Assert.Equal(shape.Aggregate(1, (a, b) => a * b), reference.Length);
            double rel = GoldenCase.RelativeRms(stages[stage], reference);
            output.WriteLine($"{name} {layout} {stage}: relative RMS {rel:E2}");
            Assert.True(rel <= golden.EmbeddingTolerance, $"stage {stage}: relative RMS {rel:E3} exceeds {golden.EmbeddingTolerance:E3}");
        }
        output.WriteLine($"{name} {layout} embeddings: relative RMS {CheckEmbedding(golden, encoder, embedding):E2}");
    }

    /// <summary>One encoder, every image of its cases in turn: buffers sized for one image must not leak into the next.</summary>
    [Theory]
    [MemberData(nameof(Projectors))]
    public void Encoder_reused_across_images_matches_each_reference(string mmproj)
    {
        var cases = VisionGoldenCase.Names().Select(VisionGoldenCase.Load).Where(c => Path.GetFileName(c.MmprojPath) == mmproj).ToArray();
        using var encoder = VisionEncoder.Load(cases[0].MmprojPath, threads: 2);
        foreach (var golden in cases.Concat(cases.Reverse()))
            CheckEmbedding(golden, encoder, encoder.Encode(encoder.Preprocess(File.ReadAllBytes(golden.ImagePath))));
    }

    public static TheoryData<string> Projectors() =>
        new(VisionGoldenCase.Names().Select(n => Path.GetFileName(VisionGoldenCase.Load(n).MmprojPath)).Distinct());

    /// <summary>Checks shapes and criterion 3 overall and per part; returns the overall relative RMS.</summary>
    static double CheckEmbedding(VisionGoldenCase golden, VisionEncoder encoder, ImageEmbedding embedding)
    {
        Assert.Equal(golden.EmbeddingWidth, embedding.Width);
        Assert.Equal(golden.EmbeddingWidth, encoder.EmbeddingWidth);
        Assert.Equal(golden.TokenCount, embedding.TokenCount);
        Assert.Equal(golden.Grid, (embedding.GridWidth, embedding.GridHeight));
        Assert.Equal(encoder.DeepstackLayers, embedding.DeepstackLayers);
        Assert.Equal(golden.EmbeddingWidth, embedding.MergerWidth * (1 + embedding.DeepstackLayers.Length));

        var reference = golden.Reference("embd.f32");
        double overall = GoldenCase.RelativeRms(embedding.Embeddings, reference);
        Assert.True(overall <= golden.EmbeddingTolerance, $"{golden.Name}: embeddings relative RMS {overall:E3} exceeds {golden.EmbeddingTolerance:E3}");
        for (int part = 0; part <= embedding.DeepstackLayers.Length; part++)
        {
            var actualPart = new List<float>();
            var referencePart = new List<float>();
            for (int t = 0; t < embedding.TokenCount; t++)
            {
                actualPart.AddRange(part == 0 ? embedding.Merger(t) : embedding.Deepstack(t, part - 1));
                referencePart.AddRange(reference.AsSpan(t * embedding.Width + part * embedding.MergerWidth, embedding.MergerWidth));
            }
            double rel = GoldenCase.RelativeRms(actualPart.ToArray(), referencePart.ToArray());
            Assert.True(rel <= golden.EmbeddingTolerance, $"{golden.Name}: embedding part {part} relative RMS {rel:E3} exceeds {golden.EmbeddingTolerance:E3}");
        }
        return overall;
    }
}
