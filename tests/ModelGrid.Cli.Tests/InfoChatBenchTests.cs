using System.Text.Json.Nodes;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Cli.Tests;

public sealed class InfoChatBenchTests
{
    static string AnyModel(string architecture) =>
        Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order().First(path =>
        {
            using var file = Engine.Gguf.GgufFile.Open(path);
            return file.Architecture == architecture;
        });

    [Fact]
    public void Info_describes_architecture_tensor_types_and_template()
    {
        string model = AnyModel("qwen3");
        using var file = Engine.Gguf.GgufFile.Open(model);
        var result = Cli.Run("info", model);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("qwen3", result.StdoutText);
        foreach (var type in file.Tensors.Select(t => t.Type).Distinct())
            Assert.Contains(type.ToString(), result.StdoutText);
        Assert.Contains(file.Metadata.GetInteger("qwen3.context_length").ToString(), result.StdoutText);
    }

    [Fact]
    public void Chat_answers_each_turn_and_honours_thinking_switches()
    {
        var result = Cli.RunWithInput("Hello there\n/no_think\nAnd again\n/exit\n", "chat", AnyModel("qwen3"), "-n", "8", "--temp", "0", "-t", "2");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("[thinking off]", result.Stderr);
        Assert.Equal(4, result.Stderr.Split("> ").Length - 1);
        Assert.NotEmpty(result.StdoutText.Trim());
    }

    [Fact]
    public void Bench_json_reports_both_speeds()
    {
        var result = Cli.Run("bench", "--json", AnyModel("qwen3"), "16", "4", "2");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var json = JsonNode.Parse(result.StdoutText.Trim().Split('\n').Last())!;
        Assert.True((double)json["prompt_tokens_per_second"]! > 0);
        Assert.True((double)json["gen_tokens_per_second"]! > 0);
        Assert.Equal(16, (int)json["prompt_tokens"]!);
    }
}
