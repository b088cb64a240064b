using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid bench image MODEL --image FILE [--mmproj FILE] [-t THREADS] [-r ROUNDS] [--json]</c>: one chat turn
/// with an image, timed as llama.cpp's mtmd-cli reports it. Per round: <c>image_preprocess_ms</c> (decode the file, fit
/// it to the patch grid), <c>image_encode_ms</c> (the vision tower: mtmd's "image slice encoded in"), and
/// <c>first_token_ms</c> from the file's bytes to the first sampled token (preprocess, tower, chat template, prefill of
/// the text and image rows, sampling). Medians of ROUNDS after one warm-up round; every round encodes the image (the
/// per-model image cache is bypassed) and starts a new session.
/// </summary>
static class BenchImageCommand
{
    const int DefaultContext = 4096;

    public static Command Create()
    {
        var model = new ModelArguments();
        var image = new Option<string>("--image") { Description = "Image file (PNG or JPEG)", Required = true };
        var prompt = new Option<string>("--prompt", "-p") { Description = "User text after the image", DefaultValueFactory = _ => "What is in this picture?" };
        var rounds = new Option<int>("--rounds", "-r") { Description = "Measured rounds (after one warm-up)", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var command = new Command("image", "Measure image encoding and the first-token latency of a chat turn with an image");
        model.AddTo(command);
        command.Options.Add(image);
        command.Options.Add(prompt);
        command.Options.Add(rounds);
        command.Options.Add(json);
        command.SetAction(async (parse, ct) =>
        {
            int roundCount = parse.GetValue(rounds);
            if (roundCount < 1)
                throw new ArgumentException($"--rounds must be at least 1, not {roundCount}");
            byte[] file = File.ReadAllBytes(parse.GetValue(image)!);
            using var languageModel = LanguageModel.Load(ModelArguments.Resolve(parse.GetValue(model.Model)!), new ModelOptions
            {
                Threads = Math.Max(1, parse.GetValue(model.Threads)),
                ContextLength = parse.GetValue(model.Context) ?? DefaultContext,
                MultimodalProjector = parse.GetValue(model.Projector),
            });
            var vision = languageModel.Vision
                ?? throw new ArgumentException($"{languageModel.Name} has no vision tower: give --mmproj FILE or put an mmproj-*.gguf beside it");
            var messages = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(new JsonObject { ["type"] = "image" }, new JsonObject { ["type"] = "text", ["text"] = parse.GetValue(prompt) }),
            });

            var samples = new List<Round>();
            for (int round = 0; round <= roundCount; round++)
            {
                var measured = await MeasureRound(languageModel, vision, file, messages, ct);
                if (round > 0) // round 0 warms up: JIT, page faults of the mapped weights, buffer growth
                    samples.Add(measured);
            }

            var last = samples[^1];
            var result = new Dictionary<string, object>
            {
                ["model"] = languageModel.Name,
                ["mmproj"] = vision.Name,
                ["threads"] = languageModel.Decoder.Threads,
                ["rounds"] = roundCount,
                ["image_size"] = new[] { last.Image.SourceWidth, last.Image.SourceHeight },
                ["preprocessed_size"] = new[] { last.Image.Width, last.Image.Height },
                ["image_tokens"] = last.ImageTokens,
                ["prompt_rows"] = last.PromptRows,
                ["image_preprocess_ms"] = Median(samples.Select(s => s.PreprocessMs)),
                ["image_encode_ms"] = Median(samples.Select(s => s.EncodeMs)),
                ["first_token_ms"] = Median(samples.Select(s => s.FirstTokenMs)),
                ["image_encode_ms_all"] = samples.Select(s => Math.Round(s.EncodeMs, 1)).ToArray(),
                ["first_token_ms_all"] = samples.Select(s => Math.Round(s.FirstTokenMs, 1)).ToArray(),
            };
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(result));
            else
                foreach (var (key, value) in result)
                    Console.WriteLine($"{key,-20} {(value is System.Collections.IEnumerable list and not string ? string.Join(", ", list.Cast<object>()) : value)}");
            return 0;
        });
        return command;
    }

    sealed record Round(PreprocessedImage Image, int ImageTokens, int PromptRows, double PreprocessMs, double EncodeMs, double FirstTokenMs);

    static async Task<Round> MeasureRound(LanguageModel model, VisionEncoder vision, byte[] file, JsonArray messages, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var image = vision.Preprocess(file);
        double preprocessed = clock.Elapsed.TotalMilliseconds;
        var embedding = vision.Encode(image);
        double encoded = clock.Elapsed.TotalMilliseconds;
        var prompt = ChatPrompt.Encode(model, messages);
        using var session = model.CreateSession();
        var options = new GenerationOptions { MaxTokens = 1, IgnoreEndOfGeneration = true, Sampling = SamplingOptions.Greedy };
        int promptRows = 0;
        await foreach (var chunk in session.GenerateAsync(prompt.Ids, options, [embedding], ct))
        {
            promptRows = chunk.PromptTokens;
            break; // the first sampled token; the session would otherwise also run it through the model
        }
        return new Round(image, embedding.TokenCount, promptRows, preprocessed, encoded - preprocessed, clock.Elapsed.TotalMilliseconds);
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        double middle = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return Math.Round(middle, 1);
    }
}
