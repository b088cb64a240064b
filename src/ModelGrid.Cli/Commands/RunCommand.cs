using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Generation;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid run MODEL -p PROMPT</c>: streams a continuation to stdout. The prompt is raw text (special tokens
/// such as &lt;|im_start|&gt; are recognized) unless <c>--chat</c> wraps it as a user turn in the model's chat template.
/// </summary>
static class RunCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var sampling = new SamplingArguments();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var chat = new Option<bool>("--chat") { Description = "Send the prompt as a user message through the chat template" };
        var noThink = new Option<bool>("--no-think") { Description = "With --chat: ask Qwen3 models not to think (enable_thinking=false)" };
        var images = new Option<string[]>("--image") { Description = "Image file (PNG or JPEG) to show the model; repeatable. In a raw prompt, <__media__> marks where each goes" };
        var run = new Command("run", "Generate text from a prompt");
        model.AddTo(run);
        sampling.AddTo(run);
        run.Options.Add(prompt);
        run.Options.Add(chat);
        run.Options.Add(noThink);
        run.Options.Add(images);
        run.SetAction(async (parse, ct) =>
        {
            var options = sampling.Read(parse);
            using var languageModel = model.Load(parse);
            using var session = languageModel.CreateSession();
            string text = parse.GetValue(prompt)!;
            string[] imageFiles = parse.GetValue(images) ?? [];
            var embeddings = imageFiles.Select(file => languageModel.EncodeImage(File.ReadAllBytes(file))).ToList();
            int[] ids = parse.GetValue(chat)
                ? ChatPrompt.Encode(languageModel, [new JsonObject { ["role"] = "user", ["content"] = UserContent(text, imageFiles.Length) }],
                    templateArguments: parse.GetValue(noThink) ? new JsonObject { ["enable_thinking"] = false } : null).Ids
                : languageModel.Tokenizer.Encode(WithImageMarkup(text, imageFiles.Length), parseSpecialTokens: true);

            var stdout = Console.OpenStandardOutput();
            var clock = Stopwatch.StartNew();
            TimeSpan firstToken = default;
            GenerationChunk? last = null;
            await foreach (var chunk in session.GenerateAsync(ids, options, embeddings, ct))
            {
                if (last is null)
                    firstToken = clock.Elapsed;
                stdout.Write(System.Text.Encoding.UTF8.GetBytes(chunk.Text));
                stdout.Flush();
                last = chunk;
            }
            double decodeSeconds = (clock.Elapsed - firstToken).TotalSeconds;
            Console.Error.WriteLine();
            Console.Error.WriteLine($"[{last!.PromptTokens} prompt tokens in {firstToken.TotalSeconds:F2} s; {last!.CompletionTokens} generated, " +
                $"{(last.CompletionTokens > 1 ? (last.CompletionTokens - 1) / Math.Max(decodeSeconds, 1e-9) : 0):F1} tok/s; finish: {last.FinishReason}]");
            return 0;
        });
        return run;
    }

    const string MediaMarker = "<__media__>";
    const string ImageMarkup = "<|vision_start|><|image_pad|><|vision_end|>";

    static JsonNode UserContent(string text, int images) => images == 0
        ? JsonValue.Create(text)
        : new JsonArray([.. Enumerable.Range(0, images).Select(_ => (JsonNode)new JsonObject { ["type"] = "image" }),
            new JsonObject { ["type"] = "text", ["text"] = text }]);

    /// <summary>A raw prompt with its images: each &lt;__media__&gt; marker (llama.cpp's) becomes one image; without markers the images go first.</summary>
    static string WithImageMarkup(string text, int images)
    {
        if (images == 0)
            return text;
        int markers = text.Split(MediaMarker).Length - 1;
        if (markers == 0)
            return string.Concat(Enumerable.Repeat(ImageMarkup, images)) + text;
        return markers == images
            ? text.Replace(MediaMarker, ImageMarkup)
            : throw new ArgumentException($"the prompt has {markers} {MediaMarker} markers but {images} images were given");
    }
}
