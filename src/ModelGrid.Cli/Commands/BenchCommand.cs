using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Quants;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid bench [--json] MODEL PROMPT_TOKENS GEN_TOKENS THREADS</c>: prompt processing of PROMPT_TOKENS tokens in
/// one batch, then GEN_TOKENS decode steps one token at a time (greedy, end-of-text ignored). As llama-bench measures
/// tg, <c>gen_tokens_per_second</c> decodes from an empty context; <c>gen_after_prompt_tokens_per_second</c> continues
/// after the prompt instead (attention then also reads the prompt's cache). Tokens are random ids from a fixed seed,
/// so every run does the same work. <c>modelgrid bench image</c> (<see cref="BenchImageCommand"/>) times a chat turn with an image.
/// </summary>
static class BenchCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "GGUF file or Hugging Face model folder" };
        var promptTokens = new Argument<int>("prompt-tokens") { Description = "Tokens processed as one batch" };
        var genTokens = new Argument<int>("gen-tokens") { Description = "Tokens decoded one at a time" };
        var threads = new Argument<int>("threads") { Description = "Compute threads" };
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var bench = new Command("bench", "Measure prompt-processing and generation speed");
        bench.Arguments.Add(model);
        bench.Arguments.Add(promptTokens);
        bench.Arguments.Add(genTokens);
        bench.Arguments.Add(threads);
        bench.Options.Add(json);
        bench.Subcommands.Add(BenchImageCommand.Create());
        bench.SetAction(parse =>
        {
            int prompt = parse.GetValue(promptTokens), generate = parse.GetValue(genTokens);
            if (prompt < 1 || generate < 0)
                throw new ArgumentException("prompt-tokens must be at least 1 and gen-tokens at least 0");
            var load = Stopwatch.StartNew();
            using var source = ModelSource.Open(ModelArguments.Resolve(parse.GetValue(model)!));
            using var decoder = ModelRegistry.Load(source, new ModelOptions { Threads = Math.Max(1, parse.GetValue(threads)), ContextLength = prompt + generate + 1 });
            double loadSeconds = load.Elapsed.TotalSeconds;

            var random = new Random(42);
            int[] tokens = Enumerable.Range(0, prompt).Select(_ => random.Next(decoder.VocabSize)).ToArray();
            var logits = new float[decoder.VocabSize];
            var batch = new ForwardBatch();

            // Warm-up (JIT, page faults of the mapping), as llama-bench does one warm-up run.
            using (var warmup = decoder.CreateSequence(prompt + generate + 1))
            {
                batch.Add(warmup, tokens.AsSpan(0, Math.Min(prompt, 16)));
                decoder.Forward(batch, logits);
                batch.Add(warmup, tokens[0], wantLogits: true);
                decoder.Forward(batch, logits);
            }

            double promptSeconds, afterPromptSeconds;
            using (var sequence = decoder.CreateSequence(prompt + generate + 1))
            {
                var clock = Stopwatch.StartNew();
                batch.Add(sequence, tokens);
                decoder.Forward(batch, logits);
                promptSeconds = clock.Elapsed.TotalSeconds;
                afterPromptSeconds = Decode(decoder, batch, sequence, logits, Sampler.ArgMax(logits), generate);
            }
            // The empty context takes the cache pages the prompt's sequence gave back, already touched: llama-bench's
            // cache is allocated and cleared before it times anything, and a server reuses its pages the same way.
            using var empty = decoder.CreateSequence(generate + 1);
            double genSeconds = Decode(decoder, batch, empty, logits, tokens[0], generate);

            var result = new Dictionary<string, object>
            {
                ["model"] = source.Name,
                ["architecture"] = decoder.Architecture,
                ["threads"] = decoder.Threads,
                ["prompt_tokens"] = prompt,
                ["gen_tokens"] = generate,
                ["load_seconds"] = Math.Round(loadSeconds, 3),
                ["prompt_tokens_per_second"] = Math.Round(prompt / promptSeconds, 2),
                ["gen_tokens_per_second"] = generate == 0 ? 0 : Math.Round(generate / genSeconds, 2),
                ["gen_after_prompt_tokens_per_second"] = generate == 0 ? 0 : Math.Round(generate / afterPromptSeconds, 2),
                ["kernels"] = source.TensorNames.Select(n => source.GetTensor(n).Type).Distinct().Order()
                    .ToDictionary(t => t.ToString(), t => RowKernels.PreferredPath(t).ToString()),
            };
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(result));
            else
                foreach (var (key, value) in result)
                    Console.WriteLine($"{key,-26} {(value is IDictionary<string, string> d ? string.Join(", ", d.Select(p => $"{p.Key}: {p.Value}")) : value)}");
            return 0;
        });
        return bench;
    }

    /// <summary>Greedy decoding of <paramref name="steps"/> tokens from <paramref name="token"/>, one forward pass each; returns the seconds taken.</summary>
    static double Decode(DecoderModel decoder, ForwardBatch batch, SequenceState sequence, float[] logits, int token, int steps)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            batch.Add(sequence, token, wantLogits: true);
            decoder.Forward(batch, logits);
            token = Sampler.ArgMax(logits);
        }
        return clock.Elapsed.TotalSeconds;
    }

}
