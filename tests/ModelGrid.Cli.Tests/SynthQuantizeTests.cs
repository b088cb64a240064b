using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Tests;

namespace ModelGrid.Cli.Tests;

public sealed class SynthQuantizeTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("mg-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Synthesized_model_has_the_preset_shape_the_real_vocabulary_and_runs()
    {
        string output = Path.Combine(_dir, "synth.gguf");
        var synth = Cli.Run("synth", "--arch", "qwen3", "--preset", "0.6b", "--layers", "1", "--type", "q8_0",
            "--tokenizer", Golden.Path("tokenizer", "tokenizer.json"), "-o", output);
        Assert.True(synth.ExitCode == 0, synth.Stderr);

        using (var file = GgufFile.Open(output))
        {
            Assert.Equal("qwen3", file.Architecture);
            Assert.Equal(1, file.Metadata.GetInteger("qwen3.block_count"));
            string[] tokens = file.Metadata.TryGetStringArray("tokenizer.ggml.tokens")!;
            Assert.Equal(tokens.Length, file.GetTensor("token_embd.weight").Dimensions[1]);
            Assert.Contains("<|im_start|>", tokens);
            Assert.Equal(Engine.Tensors.GgmlType.Q8_0, file.GetTensor("blk.0.attn_q.weight").Type);
        }

        var run = Cli.Run("run", output, "--chat", "-p", "Hello", "-n", "4", "--temp", "0", "--ignore-eos", "-t", "2");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("4 generated", run.Stderr);
    }

    [Fact]
    public void Quantized_golden_model_gets_llama_quantize_types_and_stays_within_tolerance()
    {
        string f32 = Directory.EnumerateFiles(Golden.Path("models"), "*-f32.gguf").Order().First();
        string reference = f32.Replace("-f32.gguf", "-q4_k_m.gguf");
        string output = Path.Combine(_dir, "q4km.gguf");
        var quantize = Cli.Run("quantize", f32, output, "Q4_K_M");
        Assert.True(quantize.ExitCode == 0, quantize.Stderr);

        using var ours = GgufFile.Open(output);
        if (File.Exists(reference))
        {
            using var theirs = GgufFile.Open(reference);
            Assert.Equal(theirs.Tensors.Select(t => (t.Name, t.Type)), ours.Tensors.Select(t => (t.Name, t.Type)));
        }
        var info = Cli.Run("info", output);
        Assert.Contains("Q4_K", info.StdoutText);
    }

    [Fact]
    public void Unknown_quantization_type_is_named()
    {
        string f32 = Directory.EnumerateFiles(Golden.Path("models"), "*-f32.gguf").Order().First();
        var result = Cli.Run("quantize", f32, Path.Combine(_dir, "x.gguf"), "Q9_Z");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Q9_Z", result.Stderr);
    }
}
