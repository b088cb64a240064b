using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Generation;

namespace ModelGrid.Cli.Commands;

/// <summary>
/// <c>modelgrid chat MODEL</c>: an interactive conversation through the model's chat template, streamed. Earlier turns
/// stay in the session's cache, so each reply only computes the new turn. Commands: <c>/think</c>, <c>/no_think</c>
/// (Qwen3 thinking mode for the following turns), <c>/clear</c>, <c>/exit</c>.
/// </summary>
static class ChatCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var sampling = new SamplingArguments();
        var system = new Option<string?>("--system") { Description = "System message" };
        var chat = new Command("chat", "Chat with a model interactively");
        model.AddTo(chat);
        sampling.AddTo(chat);
        chat.Options.Add(system);
        chat.SetAction(async (parse, ct) =>
        {
            var options = sampling.Read(parse);
            using var languageModel = model.Load(parse);
            using var session = languageModel.CreateSession();
            var messages = new JsonArray();
            void Reset()
            {
                messages.Clear();
                if (parse.GetValue(system) is { } text)
                    messages.Add(new JsonObject { ["role"] = "system", ["content"] = text });
            }
            Reset();
            bool? thinking = null;
            var stdout = Console.OpenStandardOutput();
            Console.Error.WriteLine($"{languageModel.Name}: type a message; /think, /no_think, /clear, /exit");
            while (!ct.IsCancellationRequested)
            {
                Console.Error.Write("> ");
                string? line = Console.ReadLine();
                if (line is null || line.Trim() == "/exit")
                    break;
                switch (line.Trim())
                {
                    case "":
                        continue;
                    case "/think" or "/no_think":
                        thinking = line.Trim() == "/think";
                        Console.Error.WriteLine($"[thinking {(thinking.Value ? "on" : "off")}]");
                        continue;
                    case "/clear":
                        Reset();
                        continue;
                }
                messages.Add(new JsonObject { ["role"] = "user", ["content"] = line });
                var prompt = ChatPrompt.Encode(languageModel, messages,
                    templateArguments: thinking is bool on ? new JsonObject { ["enable_thinking"] = on } : null);
                var reply = new StringBuilder();
                await foreach (var chunk in session.GenerateAsync(prompt.Ids, options, ct))
                {
                    stdout.Write(Encoding.UTF8.GetBytes(chunk.Text));
                    stdout.Flush();
                    reply.Append(chunk.Text);
                }
                Console.WriteLine();
                messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply.ToString() });
            }
            return 0;
        });
        return chat;
    }
}
