using System.Text;
using System.Text.Json.Nodes;

namespace ModelGrid.Engine.Generation;

/// <summary>
/// Renders a conversation with the model's chat template and tokenizes it so that only the template's own text can
/// produce control tokens: every message text is tokenized as plain text, so a user who types <c>&lt;|im_start|&gt;</c>
/// gets those characters, not a new turn. Image content parts become <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>,
/// one <c>&lt;|image_pad|&gt;</c> id per image, which <see cref="InferenceSession"/> replaces by the image's embedding rows.
/// </summary>
public static class ChatPrompt
{
    // Stands for an image inside message text while the template renders; a noncharacter, so no real text contains it.
    const string ImageSlot = "\uFDD0";

    /// <param name="messages">OpenAI-style messages: role, content as a string or parts (text, image, image_url), tool_calls, ...</param>
    /// <param name="tools">OpenAI-style tool definitions, or null.</param>
    /// <param name="templateArguments">Extra template variables, e.g. <c>enable_thinking</c>.</param>
    public static ChatPromptResult Encode(LanguageModel model, JsonArray messages, JsonArray? tools = null,
        bool addGenerationPrompt = true, JsonObject? templateArguments = null)
    {
        var template = model.ChatTemplate ?? throw new InvalidOperationException($"{model.Name} has no chat template");
        var flattened = FlattenContent(messages);
        var variables = new JsonObject
        {
            ["messages"] = flattened,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (tools is { Count: > 0 })
            variables["tools"] = tools.DeepClone();
        if (templateArguments is not null)
            foreach (var (key, value) in templateArguments)
                variables[key] = value?.DeepClone();
        string rendered = template.Render(variables);

        var ids = new List<int>();
        int position = 0, images = 0;
        foreach (string content in MessageTexts(flattened))
        {
            int at = rendered.IndexOf(content, position, StringComparison.Ordinal);
            if (at < 0)
                continue;
            model.Tokenizer.EncodeTo(rendered.AsSpan(position, at - position), parseSpecialTokens: true, ids);
            images += EncodeContent(model, rendered.AsSpan(at, content.Length), ids);
            position = at + content.Length;
        }
        model.Tokenizer.EncodeTo(rendered.AsSpan(position), parseSpecialTokens: true, ids);
        return new ChatPromptResult(rendered.Replace(ImageSlot, ImageMarkup), [.. ids], images);
    }

    const string ImageMarkup = "<|vision_start|><|image_pad|><|vision_end|>";

    /// <summary>Message text as plain text, with each image slot as the vision markup's special tokens.</summary>
    static int EncodeContent(LanguageModel model, ReadOnlySpan<char> content, List<int> ids)
    {
        int images = 0;
        while (true)
        {
            int slot = content.IndexOf(ImageSlot, StringComparison.Ordinal);
            model.Tokenizer.EncodeTo(slot < 0 ? content : content[..slot], parseSpecialTokens: false, ids);
            if (slot < 0)
                return images;
            model.Tokenizer.EncodeTo(ImageMarkup, parseSpecialTokens: true, ids);
            images++;
            content = content[(slot + ImageSlot.Length)..];
        }
    }

    /// <summary>Content given as parts becomes one string: text parts in order, image parts as image slots.</summary>
    static JsonArray FlattenContent(JsonArray messages)
    {
        var result = (JsonArray)messages.DeepClone();
        foreach (var message in result)
        {
            if (message?["content"] is JsonValue value && value.TryGetValue(out string? plain))
                message["content"] = plain.Replace(ImageSlot, "");
            if (message?["content"] is not JsonArray parts)
                continue;
            var text = new StringBuilder();
            foreach (var part in parts)
            {
                string type = (string?)part?["type"] ?? "text";
                if (type is "image" or "image_url" or "input_image")
                    text.Append(ImageSlot);
                else if ((string?)part?["text"] is { } partText)
                    text.Append(partText.Replace(ImageSlot, ""));
            }
            message["content"] = text.ToString();
        }
        return result;
    }

    static IEnumerable<string> MessageTexts(JsonArray messages)
    {
        foreach (var message in messages)
            if (message?["content"] is JsonValue value && value.TryGetValue(out string? text) && text.Length > 0)
                yield return text;
    }
}

/// <summary>The rendered prompt text, its token ids, and how many image slots (<c>&lt;|image_pad|&gt;</c> ids) it holds.</summary>
public sealed record ChatPromptResult(string Text, int[] Ids, int ImageCount = 0);
