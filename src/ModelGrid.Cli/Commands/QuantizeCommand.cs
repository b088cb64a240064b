using System.CommandLine;
using System.Diagnostics;
using ModelGrid.Engine.Quantization;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid quantize IN OUT TYPE</c>: a GGUF or Hugging Face model rewritten as a GGUF file with the tensor types
/// llama-quantize would choose for TYPE (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K, ...).
/// </summary>
static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "F32/F16/BF16 GGUF file or Hugging Face model folder" };
        var output = new Argument<string>("output") { Description = "GGUF file to write" };
        var type = new Argument<string>("type") { Description = $"Target type: {string.Join(", ", QuantizationScheme.All.Select(s => s.Name))}" };
        var threads = new Option<int>("--threads", "-t") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var command = new Command("quantize", "Quantize a model to a GGUF file (llama-quantize's type mix)");
        command.Arguments.Add(input);
        command.Arguments.Add(output);
        command.Arguments.Add(type);
        command.Options.Add(threads);
        command.SetAction(parse =>
        {
            var scheme = QuantizationScheme.Parse(parse.GetValue(type)!);
            string outputPath = parse.GetValue(output)!;
            var clock = Stopwatch.StartNew();
            var written = ModelQuantizer.Quantize(ModelArguments.Resolve(parse.GetValue(input)!), outputPath, scheme,
                new QuantizeOptions { Threads = parse.GetValue(threads), TensorWritten = TensorProgress.Report });
            TensorProgress.Summarize(outputPath, written, clock.Elapsed);
            return 0;
        });
        return command;
    }
}

/// <summary>Console lines for commands that write GGUF files tensor by tensor.</summary>
static class TensorProgress
{
    public static void Report(WrittenTensor tensor) =>
        Console.Error.WriteLine($"  {tensor.Name,-40} {tensor.Type,-5} [{string.Join(", ", tensor.Dimensions)}] {tensor.ByteSize / 1048576.0:F1} MiB");

    public static void Summarize(string path, IReadOnlyList<WrittenTensor> written, TimeSpan elapsed)
    {
        string types = string.Join(", ", written.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}"));
        Console.WriteLine($"wrote {path}: {written.Count} tensors ({types}), {new FileInfo(path).Length / 1048576.0:F1} MiB in {elapsed.TotalSeconds:F1} s");
    }
}
