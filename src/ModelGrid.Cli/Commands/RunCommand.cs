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
        var run = new Command("run", "Generate text from a prompt");
        model.AddTo(run);
        sampling.AddTo(run);
        run.Options.Add(prompt);
        run.Options.Add(chat);
        run.Options.Add(noThink);
        run.SetAction(async (parse, ct) =>
        {
            var options = sampling.Read(parse);
            using var languageModel = model.Load(parse);
            using var session = languageModel.CreateSession();
            string text = parse.GetValue(prompt)!;
            int[] ids = parse.GetValue(chat)
                ? ChatPrompt.Encode(languageModel, [new JsonObject { ["role"] = "user", ["content"] = text }],
                    templateArguments: parse.GetValue(noThink) ? new JsonObject { ["enable_thinking"] = false } : null).Ids
                : languageModel.Tokenizer.Encode(text, parseSpecialTokens: true);

            var stdout = Console.OpenStandardOutput();
            var clock = Stopwatch.StartNew();
            TimeSpan firstToken = default;
            GenerationChunk? last = null;
            await foreach (var chunk in session.GenerateAsync(ids, options, ct))
            {
                if (last is null)
                    firstToken = clock.Elapsed;
                stdout.Write(System.Text.Encoding.UTF8.GetBytes(chunk.Text));
                stdout.Flush();
                last = chunk;
            }
            double decodeSeconds = (clock.Elapsed - firstToken).TotalSeconds;
            Console.Error.WriteLine();
            Console.Error.WriteLine($"[{ids.Length} prompt tokens in {firstToken.TotalSeconds:F2} s; {last!.CompletionTokens} generated, " +
                $"{(last.CompletionTokens > 1 ? (last.CompletionTokens - 1) / Math.Max(decodeSeconds, 1e-9) : 0):F1} tok/s; finish: {last.FinishReason}]");
            return 0;
        });
        return run;
    }
}
