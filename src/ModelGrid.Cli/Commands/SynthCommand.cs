using System.CommandLine;
using System.Diagnostics;
using ModelGrid.Engine.Quantization;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid synth --arch qwen3 --preset 0.6b --type q8_0 -o FILE</c>: a GGUF file with a real model's shapes and
/// vocabulary and random weights, for benchmarks and load tests. <c>--mmproj-out FILE</c> also (or only) writes the
/// model's vision tower as an mmproj GGUF (llama.cpp's layout, F16 by default as mmproj files ship).
/// </summary>
static class SynthCommand
{
    const string DefaultTokenizer = "../shared/golden/tokenizer/tokenizer.json";

    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "qwen3, qwen2, qwen3moe, qwen35 or qwen35moe", Required = true };
        var preset = new Option<string>("--preset")
        {
            Description = "Model size: " + string.Join("; ", SynthesisPreset.All.GroupBy(p => p.Architecture).Select(g => $"{g.Key}: {string.Join(", ", g.Select(p => p.Name))}")),
            Required = true,
        };
        var type = new Option<string>("--type") { Description = $"Tensor type mix: {string.Join(", ", QuantizationScheme.All.Select(s => s.Name.ToLowerInvariant()))}", DefaultValueFactory = _ => "f16" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = $"tokenizer.json giving the vocabulary (default: {DefaultTokenizer} if present)" };
        var seed = new Option<ulong>("--seed") { Description = "Random seed", DefaultValueFactory = _ => 0 };
        var layers = new Option<int?>("--layers") { Description = "Override the preset's layer count (smaller test files)" };
        var threads = new Option<int>("--threads", "-t") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var output = new Option<string?>("--output", "-o") { Description = "GGUF file to write (the text model)" };
        var mmprojOutput = new Option<string?>("--mmproj-out") { Description = "mmproj GGUF to write: the preset's vision tower (qwen35 0.8b, 4b)" };
        var mmprojType = new Option<string>("--mmproj-type") { Description = "Tensor type of the mmproj file: f16, q8_0, f32, ...", DefaultValueFactory = _ => "f16" };
        var command = new Command("synth", "Write a GGUF with a real model's shape and vocabulary and random weights");
        foreach (var option in new Option[] { arch, preset, type, tokenizer, seed, layers, threads, output, mmprojOutput, mmprojType })
            command.Options.Add(option);
        command.SetAction(parse =>
        {
            var shape = SynthesisPreset.Find(parse.GetValue(arch)!, parse.GetValue(preset)!);
            if (parse.GetValue(layers) is int count)
                shape = count >= 1 ? shape with { BlockCount = count } : throw new ArgumentException($"--layers must be at least 1, not {count}");
            string? outputPath = parse.GetValue(output), mmprojPath = parse.GetValue(mmprojOutput);
            if (outputPath is null && mmprojPath is null)
                throw new ArgumentException("nothing to write: give --output FILE (the text model) and/or --mmproj-out FILE (its vision tower)");
            var options = new QuantizeOptions { Threads = parse.GetValue(threads), TensorWritten = TensorProgress.Report };
            if (mmprojPath is not null)
            {
                var clock = Stopwatch.StartNew();
                var written = ModelSynthesizer.SynthesizeProjector(shape, QuantizationScheme.Parse(parse.GetValue(mmprojType)!), mmprojPath, parse.GetValue(seed), options);
                TensorProgress.Summarize(mmprojPath, written, clock.Elapsed);
            }
            if (outputPath is not null)
            {
                string tokenizerPath = parse.GetValue(tokenizer) ?? (File.Exists(DefaultTokenizer)
                    ? DefaultTokenizer
                    : throw new ArgumentException($"no --tokenizer given and {Path.GetFullPath(DefaultTokenizer)} does not exist"));
                var clock = Stopwatch.StartNew();
                var written = ModelSynthesizer.Synthesize(shape, tokenizerPath, QuantizationScheme.Parse(parse.GetValue(type)!), outputPath, parse.GetValue(seed), options);
                TensorProgress.Summarize(outputPath, written, clock.Elapsed);
            }
            return 0;
        });
        return command;
    }
}
