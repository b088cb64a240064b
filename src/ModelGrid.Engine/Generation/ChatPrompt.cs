using System.Text.Json.Nodes;

namespace ModelGrid.Engine.Generation;

/// <summary>
/// Renders a conversation with the model's chat template and tokenizes it so that only the template's own text can
/// produce control tokens: every message text is tokenized as plain text, so a user who types <c>&lt;|im_start|&gt;</c>
/// gets those characters, not a new turn.
/// </summary>
public static class ChatPrompt
{
    /// <param name="messages">OpenAI-style messages (role, content as a string or text parts, tool_calls, ...).</param>
    /// <param name="tools">OpenAI-style tool definitions, or null.</param>
    /// <param name="templateArguments">Extra template variables, e.g. <c>enable_thinking</c>.</param>
    public static ChatPromptResult Encode(LanguageModel model, JsonArray messages, JsonArray? tools = null,
        bool addGenerationPrompt = true, JsonObject? templateArguments = null)
    {
        var template = model.ChatTemplate ?? throw new InvalidOperationException($"{model.Name} has no chat template");
        var variables = new JsonObject
        {
            ["messages"] = messages.DeepClone(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (tools is { Count: > 0 })
            variables["tools"] = tools.DeepClone();
        if (templateArguments is not null)
            foreach (var (key, value) in templateArguments)
                variables[key] = value?.DeepClone();
        string rendered = template.Render(variables);

        var ids = new List<int>();
        int position = 0;
        foreach (string content in MessageTexts(messages))
        {
            int at = rendered.IndexOf(content, position, StringComparison.Ordinal);
            if (at < 0)
                continue;
            model.Tokenizer.EncodeTo(rendered.AsSpan(position, at - position), parseSpecialTokens: true, ids);
            model.Tokenizer.EncodeTo(rendered.AsSpan(at, content.Length), parseSpecialTokens: false, ids);
            position = at + content.Length;
        }
        model.Tokenizer.EncodeTo(rendered.AsSpan(position), parseSpecialTokens: true, ids);
        return new ChatPromptResult(rendered, [.. ids]);
    }

    static IEnumerable<string> MessageTexts(JsonArray messages)
    {
        foreach (var message in messages)
        {
            switch (message?["content"])
            {
                case JsonValue value when value.TryGetValue(out string? text) && text.Length > 0:
                    yield return text;
                    break;
                case JsonArray parts:
                    foreach (var part in parts)
                        if ((string?)part?["text"] is { Length: > 0 } partText)
                            yield return partText;
                    break;
            }
        }
    }
}

/// <summary>The rendered prompt text and its token ids.</summary>
public sealed record ChatPromptResult(string Text, int[] Ids);
