using System.Text.Json.Nodes;

namespace ModelGrid.Engine.Tests.Vision;

/// <summary>
/// One golden/vision/expected/M.I.json (a text model, its vision projector and an image) with the reference
/// files it names, and where the same tower lives in Hugging Face layout (<c>models/&lt;M&gt;-vision-hf</c>), if it does.
/// </summary>
public sealed record VisionGoldenCase(
    string Name, JsonNode Json, string ModelPath, string MmprojPath, string? HuggingFaceFolder, string ImagePath,
    (int Width, int Height) PreprocessedSize, int EmbeddingWidth, int TokenCount, (int Width, int Height) Grid,
    (string Name, int[] Shape, string File)[] Stages, double EmbeddingTolerance)
{
    public static string Dir(params string[] parts) => Golden.Path(["vision", .. parts]);

    /// <summary>Every case name (file name without .json) in expected/ that pairs an image with an mmproj.</summary>
    public static IEnumerable<string> Names() =>
        Directory.EnumerateFiles(Dir("expected"), "*.json").Order(StringComparer.Ordinal)
            .Where(file => JsonNode.Parse(File.ReadAllText(file))?["mmproj"] is not null)
            .Select(file => Path.GetFileNameWithoutExtension(file));

    public static VisionGoldenCase Load(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Dir("expected", name + ".json")))!;
        string mmproj = (string)json["mmproj"]!;
        int marker = mmproj.IndexOf("-mmproj", StringComparison.Ordinal);
        string? folder = marker > 0 ? Dir("models", mmproj[..marker] + "-vision-hf") : null;
        int[] Pair(string key) => json[key]!.AsArray().Select(v => (int)v!).ToArray();
        var size = Pair("preprocessed_size");
        var grid = Pair("image_grid");
        var stages = json["vit_stages"]!.AsArray()
            .Select(s => ((string)s!["name"]!, s["shape"]!.AsArray().Select(v => (int)v!).ToArray(), Dir("expected", (string)s["file"]!)))
            .ToArray();
        double exact = (double)json["llama_cpp_embd_rel_rms_vs_exact"]!;
        return new VisionGoldenCase(name, json, Dir("models", (string)json["model"]!), Dir("models", mmproj),
            Directory.Exists(folder) ? folder : null, Dir("images", (string)json["image"]!),
            (size[0], size[1]), (int)json["n_embd_mmproj"]!, (int)json["n_image_tokens"]!, (grid[0], grid[1]),
            stages, Math.Max(0.001, 1.5 * exact));
    }

    public float[] Reference(string suffix) => ReadFloats(Dir("expected", $"{Name}.{suffix}"));

    public static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * 4);
        return values;
    }
}
