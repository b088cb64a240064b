using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Cli.Tests;

public sealed class ImageRunTests
{
    public static TheoryData<string> Cases() =>
        new(Directory.EnumerateFiles(Golden.Path("vision", "expected"), "*.json").Select(f => Path.GetFileNameWithoutExtension(f)).Order());

    /// <summary>
    /// <c>modelgrid run MODEL --image FILE</c> with the golden prompt (llama.cpp's &lt;__media__&gt; marker): the mmproj beside
    /// the model is found, and greedy decoding prints the golden continuation up to its first near-tie.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void Run_with_an_image_prints_the_golden_continuation(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Golden.Path("vision", "expected", name + ".json")))!;
        double[] margins = json["greedy_margins"]!.AsArray().Select(v => (double)v!).ToArray();
        int[] greedy = json["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray();
        double tolerance = Math.Max(0.002, 1.5 * (double)json["logits_rel_rms_exact_embd_vs_llama_cpp"]!);
        int reliable = Array.FindIndex(margins, m => m < Math.Max(0.1, 20 * tolerance)) is var i and >= 0 ? i : margins.Length;

        string model = Golden.Path("vision", "models", (string)json["model"]!);
        var result = Cli.Run("run", model, "--image", Golden.Path("vision", "images", (string)json["image"]!),
            "-p", (string)json["prompt"]!, "-n", greedy.Length.ToString(), "--temp", "0", "--ignore-eos", "-t", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"[{(int)json["n_rows"]!} prompt tokens", result.Stderr);
        using var file = Engine.Gguf.GgufFile.Open(model);
        var tokenizer = Engine.Text.Tokenization.ByteLevelBpeTokenizer.FromGgufMetadata(file.Metadata);
        string expected = tokenizer.Decode(greedy[..reliable]);
        Assert.StartsWith(expected.TrimEnd('\uFFFD'), result.StdoutText, StringComparison.Ordinal);
    }

    [Fact]
    public void Chat_attaches_an_image_to_the_next_message()
    {
        var json = JsonNode.Parse(File.ReadAllText(Directory.EnumerateFiles(Golden.Path("vision", "expected"), "*.json").Order().First()))!;
        string image = Golden.Path("vision", "images", (string)json["image"]!);
        var result = Cli.RunWithInput($"/image {image}\nWhat is this?\nAnd now?\n/exit\n",
            "chat", Golden.Path("vision", "models", (string)json["model"]!), "-n", "4", "--temp", "0", "-t", "2");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains($"[image {Path.GetFileName(image)}: {(int)json["n_image_tokens"]!} tokens]", result.Stderr);
        Assert.Equal(4, result.Stderr.Split("> ").Length - 1);
    }

    [Fact]
    public void Bench_image_reports_the_image_grid_and_its_timings()
    {
        var json = JsonNode.Parse(File.ReadAllText(Directory.EnumerateFiles(Golden.Path("vision", "expected"), "*.json").Order().First()))!;
        var result = Cli.Run("bench", "image", Golden.Path("vision", "models", (string)json["model"]!),
            "--image", Golden.Path("vision", "images", (string)json["image"]!), "-r", "2", "-t", "2", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var report = JsonNode.Parse(result.StdoutText.Trim().Split('\n').Last())!;
        Assert.Equal((int)json["n_image_tokens"]!, (int)report["image_tokens"]!);
        Assert.Equal(json["preprocessed_size"]!.ToJsonString(), report["preprocessed_size"]!.ToJsonString());
        Assert.Equal(2, report["image_encode_ms_all"]!.AsArray().Count);
        Assert.True((double)report["image_encode_ms"]! > 0);
        Assert.True((double)report["first_token_ms"]! >= (double)report["image_encode_ms"]!, "the first token comes after the image is encoded");
        Assert.True((int)report["prompt_rows"]! > (int)report["image_tokens"]!, "the chat turn has text rows besides the image");
    }

    [Fact]
    public void Bench_image_without_a_vision_tower_names_the_missing_projector()
    {
        string textOnly = Directory.EnumerateFiles(Golden.Path("models"), "*-f32.gguf").Order().First();
        string image = Directory.EnumerateFiles(Golden.Path("vision", "images"), "*.png").Order().First();
        var result = Cli.Run("bench", "image", textOnly, "--image", image, "-r", "1", "-t", "1");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--mmproj", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void Corrupt_image_is_a_clear_error()
    {
        string name = Directory.EnumerateFiles(Golden.Path("vision", "expected"), "*.json").Order().First();
        var json = JsonNode.Parse(File.ReadAllText(name))!;
        string image = Path.Combine(Path.GetTempPath(), $"mg-corrupt-{Guid.NewGuid():N}.png");
        File.WriteAllBytes(image, File.ReadAllBytes(Golden.Path("vision", "images", (string)json["image"]!))[..60]);
        try
        {
            var result = Cli.Run("run", Golden.Path("vision", "models", (string)json["model"]!), "--image", image, "-p", "<__media__>hi", "-n", "2");
            Assert.Equal(1, result.ExitCode);
            Assert.DoesNotContain("   at ", result.Stderr);
            Assert.Contains("error:", result.Stderr);
        }
        finally
        {
            File.Delete(image);
        }
    }
}
