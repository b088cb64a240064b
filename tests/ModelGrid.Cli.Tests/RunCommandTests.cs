using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Tokenization;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Cli.Tests;

public sealed class RunCommandTests
{
    public static TheoryData<string> ChatCases() =>
        new(Directory.EnumerateFiles(Golden.Path("expected"), "*.chat.json").Select(f => Path.GetFileName(f)[..^".chat.json".Length])
            .Where(model => File.Exists(Golden.Path("models", model + ".gguf"))).Order());

    /// <summary>
    /// The golden chat prompt, greedy: stdout holds the text of the golden continuation up to its first near-tie. Bytes
    /// that are not valid UTF-8 (a token may be a lone continuation byte) print as U+FFFD, as the streaming decoder promises.
    /// </summary>
    [Theory]
    [MemberData(nameof(ChatCases))]
    public void Greedy_run_prints_the_golden_continuation(string model)
    {
        var expected = JsonNode.Parse(File.ReadAllText(Golden.Path("expected", model + ".chat.json")))!;
        string modelPath = Golden.Path("models", model + ".gguf");
        int[] greedy = expected["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray();
        double[] margins = expected["greedy_margins"]!.AsArray().Select(v => (double)v!).ToArray();
        double tolerance = Math.Max(0.002, 1.5 * (double)expected["llama_cpp_native_rel_rms"]!);
        int reliable = Array.FindIndex(margins, m => m < Math.Max(0.1, 20 * tolerance)) is var i and >= 0 ? i : greedy.Length;

        var result = Cli.Run("run", modelPath, "-p", (string)expected["prompt"]!, "-n", greedy.Length.ToString(), "--temp", "0", "--ignore-eos", "-t", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        byte[] all = Convert.FromHexString((string)expected["greedy_bytes_hex"]!);
        if (reliable == greedy.Length)
        {
            Assert.Equal(Encoding.UTF8.GetString(all), result.StdoutText);
            return;
        }
        using var file = Engine.Gguf.GgufFile.Open(modelPath);
        var tokenizer = ByteLevelBpeTokenizer.FromGgufMetadata(file.Metadata);
        byte[] prefix = greedy[..reliable].SelectMany(id => tokenizer.TokenBytes(id).ToArray()).ToArray();
        string expectedText = Encoding.UTF8.GetString(prefix[..CompleteUtf8Length(prefix)]);
        Assert.StartsWith(expectedText, result.StdoutText, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_model_file_is_a_clear_error()
    {
        var result = Cli.Run("run", "/no/such/model.gguf", "-p", "hi");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("/no/such/model.gguf", result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
    }

    [Fact]
    public void Truncated_model_file_is_a_clear_error()
    {
        string source = Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order().First();
        string path = Path.Combine(Path.GetTempPath(), $"mg-truncated-{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, File.ReadAllBytes(source)[..4000]);
        try
        {
            var result = Cli.Run("run", path, "-p", "hi");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains(Path.GetFileName(path), result.Stderr);
            Assert.DoesNotContain("   at ", result.Stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Unsupported_architecture_is_named()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mg-arch-{Guid.NewGuid():N}.gguf");
        new Engine.Gguf.GgufWriter().Add("general.architecture", "mamba9").Write(path);
        try
        {
            var result = Cli.Run("run", path, "-p", "hi");
            Assert.Equal(1, result.ExitCode);
            Assert.Contains("unsupported architecture 'mamba9'", result.Stderr);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Same_seed_gives_the_same_sampled_text()
    {
        string model = Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order().First();
        string[] args = ["run", model, "-p", "Hello", "-n", "24", "--temp", "1.0", "--seed", "7", "--ignore-eos"];
        var first = Cli.Run(args);
        var second = Cli.Run(args);
        Assert.Equal(0, first.ExitCode);
        Assert.NotEmpty(first.Stdout);
        Assert.Equal(first.Stdout, second.Stdout);
    }

    static int CompleteUtf8Length(byte[] bytes)
    {
        int end = bytes.Length;
        int start = end;
        while (start > 0 && start > end - 4 && (bytes[start - 1] & 0xC0) == 0x80)
            start--;
        if (start == 0)
            return end;
        byte lead = bytes[start - 1];
        int needed = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        return end - (start - 1) >= needed ? end : start - 1;
    }
}
