using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Text.Templates;
using ModelGrid.Engine.Vision;
using ModelGrid.Server.Api;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Scheduling;
using ModelGrid.Server.Structured;

namespace ModelGrid.Server.Chat;

/// <summary>How the reply may use the tools: OpenAI's <c>tool_choice</c>.</summary>
public enum ToolChoice { None, Auto, Required, Named }

/// <summary>A validated chat request, ready to run: the prompt, sampling, output parsing and constraints.</summary>
public sealed record ChatPlan(ServedModel Model, ChatPromptResult Prompt, SamplingParameters Sampling)
{
    /// <summary>The images of the prompt, one per image slot, in order.</summary>
    public IReadOnlyList<ImageEmbedding> Images { get; init; } = [];

    /// <summary>Rows the prompt takes: its ids, with each image slot counted as the image's tokens (<c>usage.prompt_tokens</c>).</summary>
    public int PromptTokens => Prompt.Ids.Length + Images.Sum(image => image.TokenCount - 1);

    /// <summary>Turn boundaries of the prompt where the scheduler may keep a state for later requests.</summary>
    public IReadOnlyList<int> SnapshotPoints { get; init; } = [];

    public JsonArray? Tools { get; init; }
    public ToolChoice ToolChoice { get; init; }
    public bool ParallelToolCalls { get; init; } = true;
    public bool StartsInReasoning { get; init; }
    internal GrammarNode? Grammar { get; init; }

    public AssistantOutputParser CreateParser() =>
        new(parseToolCalls: ToolChoice != ToolChoice.None && Tools is { Count: > 0 }, parseReasoning: true, StartsInReasoning, ParallelToolCalls, Tools);
}

/// <summary>One choice's progress: what the token added to the reply, the token itself, and the finish reason at the end.</summary>
public sealed record ChoiceUpdate(int Index, IReadOnlyList<AssistantDelta> Deltas, GeneratedToken Token, string? FinishReason);

/// <summary>Chat completions independent of HTTP: validates an OpenAI-style request and runs it on the scheduler.</summary>
public static class ChatCompletion
{
    /// <summary>Validates the request, fetches and encodes its images, and renders the prompt.</summary>
    public static async Task<ChatPlan> PrepareAsync(ModelCatalog catalog, JsonObject body, ImageLoader imageLoader, CancellationToken ct)
    {
        var model = catalog.Resolve(RequestFields.String(body, "model"));
        var imageParts = new List<(string Url, string Param)>();
        var messages = RequestFields.Array(body, "messages") is { Count: > 0 } given
            ? NormalizeMessages(given, imageParts)
            : throw new ApiException(400, "messages: must be a non-empty array", "messages", "missing_required_parameter");
        var tools = Tools(body);
        var (choice, named) = ParseToolChoice(body, tools);
        bool parallel = RequestFields.Boolean(body, "parallel_tool_calls") ?? true;

        var templateArguments = RequestFields.Object(body, "chat_template_kwargs")?.DeepClone().AsObject() ?? [];
        if (!templateArguments.ContainsKey("enable_thinking") && ThinkingSwitch(messages) is bool thinking)
            templateArguments["enable_thinking"] = thinking;

        ChatPromptResult prompt;
        try
        {
            prompt = ChatPrompt.Encode(model.Model, messages, choice == ToolChoice.None ? null : tools, addGenerationPrompt: true, templateArguments);
        }
        catch (ChatTemplateException e)
        {
            throw new ApiException(400, $"messages: the chat template rejected the conversation: {e.Message}", "messages", "invalid_messages");
        }
        catch (InvalidOperationException e)
        {
            throw new ApiException(400, $"model: {e.Message}; use /v1/completions", "model", "no_chat_template");
        }
        // Encoded last: the tower's work is the expensive part of preparing a request, wasted if something else is invalid.
        var images = await LoadImagesAsync(model, imageParts, imageLoader, ct);
        if (prompt.ImageCount != images.Count)
            throw new InvalidOperationException($"the prompt has {prompt.ImageCount} image slots for {images.Count} images");
        int promptTokens = prompt.Ids.Length + images.Sum(image => image.TokenCount - 1);
        if (promptTokens >= model.Scheduler.ContextLength)
            throw new ApiException(400, $"messages: the prompt has {promptTokens} tokens but the context holds {model.Scheduler.ContextLength}",
                "messages", "context_length_exceeded");

        var sampling = SamplingParameters.Parse(body, model, promptTokens, chat: true);
        var grammar = choice is ToolChoice.Required or ToolChoice.Named
            ? ToolCallGrammar(tools!, named)
            : ResponseFormatGrammar(body);
        bool keepsSnapshots = model.Scheduler.RecurrentStateBytes > 0 || images.Count > 0;
        return new ChatPlan(model, prompt, sampling)
        {
            Images = images,
            SnapshotPoints = keepsSnapshots ? TurnBoundaries(model, messages, choice == ToolChoice.None ? null : tools, templateArguments, prompt.Ids) : [],
            Tools = tools,
            ToolChoice = choice,
            ParallelToolCalls = parallel,
            StartsInReasoning = prompt.Text.TrimEnd().EndsWith("<think>", StringComparison.Ordinal),
            Grammar = grammar,
        };
    }

    public static async IAsyncEnumerable<ChoiceUpdate> RunAsync(ChatPlan plan, [EnumeratorCancellation] CancellationToken ct)
    {
        var jobs = Enumerable.Range(0, plan.Sampling.N)
            .Select(i => plan.Sampling.Job(plan.Prompt.Ids, i, CreateConstraint(plan.Model, plan.Grammar)) with { Images = plan.Images, SnapshotPoints = plan.SnapshotPoints })
            .ToList();
        var parsers = jobs.Select(_ => plan.CreateParser()).ToArray();
        await foreach (var (index, token) in JobStreams.Merge(plan.Model.Scheduler, jobs, ct))
        {
            var parser = parsers[index];
            var deltas = parser.Push(token.Text);
            string? finish = null;
            if (token.FinishReason is { } reason)
            {
                deltas.AddRange(parser.Finish());
                finish = parser.ToolCalls > 0 ? "tool_calls" : FinishReasonName(reason);
            }
            yield return new ChoiceUpdate(index, deltas, token, finish);
        }
    }

    public static string FinishReasonName(FinishReason reason) => reason == FinishReason.Length ? "length" : "stop";

    internal static ITokenConstraint? CreateConstraint(ServedModel model, GrammarNode? grammar) =>
        grammar is null ? null : new GrammarConstraint(grammar, model.Model.Tokenizer, model.Model.EndOfGenerationTokens);

    /// <summary>
    /// Checks roles and contents, joins text parts, and parses tool-call arguments given as JSON strings. Content with
    /// images stays a list of text parts and <c>{"type": "image"}</c> placeholders; the images' URLs, with the fields
    /// that gave them, are added to <paramref name="images"/> in prompt order.
    /// </summary>
    static JsonArray NormalizeMessages(JsonArray messages, List<(string Url, string Param)> images)
    {
        var normalized = new JsonArray();
        for (int i = 0; i < messages.Count; i++)
        {
            string path = $"messages[{i}]";
            if (messages[i] is not JsonObject message)
                throw ApiException.Invalid(path, "must be an object");
            var copy = message.DeepClone().AsObject();
            string role = RequestFields.RequiredString(message, "role", path + ".role");
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
                throw ApiException.Invalid(path + ".role", $"'{role}' is not one of system, developer, user, assistant, tool");
            copy["role"] = role == "developer" ? "system" : role;
            switch (message["content"])
            {
                case null:
                    if (role != "assistant")
                        throw new ApiException(400, $"{path}.content: is required", path + ".content", "missing_required_parameter");
                    // Clients leave content out of assistant turns that only call tools; templates read it regardless.
                    copy["content"] = "";
                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    break;
                case JsonArray parts:
                    copy["content"] = NormalizeParts(parts, $"{path}.content", images);
                    break;
                default:
                    throw ApiException.Invalid(path + ".content", "must be a string or an array of content parts");
            }
            if (message["tool_calls"] is { } calls)
            {
                if (calls is not JsonArray callArray)
                    throw ApiException.Invalid(path + ".tool_calls", "must be an array");
                for (int j = 0; j < callArray.Count; j++)
                {
                    string callPath = $"{path}.tool_calls[{j}].function";
                    if (copy["tool_calls"]![j]?["function"] is not JsonObject function)
                        throw new ApiException(400, $"{callPath}: is required", callPath, "missing_required_parameter");
                    RequestFields.RequiredString(function, "name", callPath + ".name");
                    if (function["arguments"] is JsonValue text && text.GetValueKind() == JsonValueKind.String)
                    {
                        try
                        {
                            function["arguments"] = JsonNode.Parse(text.GetValue<string>());
                        }
                        catch (JsonException e)
                        {
                            throw ApiException.Invalid(callPath + ".arguments", $"is not valid JSON: {e.Message}");
                        }
                    }
                }
            }
            normalized.Add(copy);
        }
        return normalized;
    }

    /// <summary>Text parts joined into one string, or with images, text parts and image placeholders in order.</summary>
    static JsonNode NormalizeParts(JsonArray parts, string path, List<(string Url, string Param)> images)
    {
        var normalized = new JsonArray();
        var text = new System.Text.StringBuilder();
        bool hasImages = false;
        for (int j = 0; j < parts.Count; j++)
        {
            string partPath = $"{path}[{j}]";
            if (parts[j] is not JsonObject part)
                throw ApiException.Invalid(partPath, "must be an object");
            switch (RequestFields.String(part, "type", partPath + ".type"))
            {
                case "text" or "input_text":
                    string partText = RequestFields.RequiredString(part, "text", partPath + ".text");
                    text.Append(partText);
                    normalized.Add(new JsonObject { ["type"] = "text", ["text"] = partText });
                    break;
                case "image_url" or "input_image" or "image":
                    images.Add(ImageUrl(part, partPath));
                    hasImages = true;
                    normalized.Add(new JsonObject { ["type"] = "image" });
                    break;
                case var other:
                    throw ApiException.Invalid(partPath + ".type", $"'{other}' is not a supported content part (text, image_url)");
            }
        }
        return hasImages ? normalized : text.ToString();
    }

    /// <summary>
    /// The URL of an image part: OpenAI chat's <c>{"image_url": {"url": ...}}</c>, or the plain string form that the
    /// Responses API (<c>input_image</c>) and other servers use (<c>"image_url": ...</c>, <c>"image": ...</c>).
    /// </summary>
    static (string Url, string Param) ImageUrl(JsonObject part, string path)
    {
        foreach (string field in (string[])["image_url", "image"])
            switch (part[field])
            {
                case JsonObject nested when nested["url"] is JsonValue url && url.GetValueKind() == JsonValueKind.String:
                    return (url.GetValue<string>(), $"{path}.{field}.url");
                case JsonValue url when url.GetValueKind() == JsonValueKind.String:
                    return (url.GetValue<string>(), $"{path}.{field}");
                case null:
                    continue;
                default:
                    throw ApiException.Invalid($"{path}.{field}", "must be {\"url\": \"data:image/...;base64,...\"} or a URL string");
            }
        throw new ApiException(400, $"{path}.image_url: is required", $"{path}.image_url", "missing_required_parameter");
    }

    /// <summary>Fetches and encodes the images; a model without a vision tower, a bad URL or a corrupt image is a 400.</summary>
    static async Task<IReadOnlyList<ImageEmbedding>> LoadImagesAsync(ServedModel model, List<(string Url, string Param)> parts,
        ImageLoader loader, CancellationToken ct)
    {
        if (parts.Count == 0)
            return [];
        if (model.Model.Vision is null || !model.Model.Tokenizer.TryGetTokenId("<|image_pad|>", out _))
            throw new ApiException(400, $"{parts[0].Param}: the model '{model.Name}' has no vision tower, so it cannot take images; " +
                "serve it with its multimodal projector (--mmproj FILE, or an mmproj-*.gguf beside the model)", parts[0].Param, "model_not_multimodal");
        var images = new List<ImageEmbedding>(parts.Count);
        foreach (var (url, param) in parts)
        {
            byte[] file = await loader.LoadAsync(url, param, ct);
            try
            {
                images.Add(model.Model.EncodeImage(file));
            }
            catch (ImageFormatException e)
            {
                throw new ApiException(400, $"{param}: the image cannot be used: {e.Message}", param, "invalid_image");
            }
        }
        return images;
    }

    /// <summary>
    /// Where later requests are likely to share this prompt: where the first non-system message's text starts (after a
    /// system prompt, which requests share), and the end of the last message (the next turn of this conversation
    /// continues from there). Each is found as the ids this prompt shares with the same conversation rendered with that
    /// text changed, or without the generation prompt, so it holds for any template.
    /// </summary>
    static int[] TurnBoundaries(ServedModel model, JsonArray messages, JsonArray? tools, JsonObject templateArguments, int[] ids)
    {
        var points = new List<int>();
        var variants = new List<(JsonArray Messages, bool GenerationPrompt)> { ((JsonArray)messages.DeepClone(), false) };
        int first = messages.Select((m, i) => (Role: (string?)m?["role"], Index: i)).FirstOrDefault(m => m.Role != "system", (null, -1)).Index;
        if (first >= 0)
        {
            var changed = (JsonArray)messages.DeepClone();
            changed[first]!["content"] = "\uFDD1";
            variants.Add((changed, true));
        }
        foreach (var (variant, generationPrompt) in variants)
        {
            try
            {
                var other = ChatPrompt.Encode(model.Model, variant, tools, generationPrompt, templateArguments).Ids;
                int shared = 0;
                while (shared < Math.Min(other.Length, ids.Length) && other[shared] == ids[shared])
                    shared++;
                points.Add(shared);
            }
            catch (ChatTemplateException)
            {
                // A template that refuses the variant (e.g. one requiring a final user turn) just gives no boundary there.
            }
        }
        return [.. points];
    }

    static JsonArray? Tools(JsonObject body)
    {
        var tools = RequestFields.Array(body, "tools");
        if (tools is null)
            return null;
        for (int i = 0; i < tools.Count; i++)
        {
            string path = $"tools[{i}]";
            if (tools[i] is not JsonObject tool || (string?)tool["type"] != "function" || tool["function"] is not JsonObject function)
                throw ApiException.Invalid(path, "must be {\"type\": \"function\", \"function\": {...}}");
            RequestFields.RequiredString(function, "name", path + ".function.name");
            if (function["parameters"] is { } parameters && parameters is not JsonObject)
                throw ApiException.Invalid(path + ".function.parameters", "must be a JSON schema object");
        }
        return tools;
    }

    static (ToolChoice Choice, string? Name) ParseToolChoice(JsonObject body, JsonArray? tools)
    {
        bool haveTools = tools is { Count: > 0 };
        switch (body["tool_choice"])
        {
            case null:
                return (haveTools ? ToolChoice.Auto : ToolChoice.None, null);
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                var choice = v.GetValue<string>() switch
                {
                    "none" => ToolChoice.None,
                    "auto" => ToolChoice.Auto,
                    "required" => ToolChoice.Required,
                    var other => throw ApiException.Invalid("tool_choice", $"'{other}' is not none, auto, required or a function"),
                };
                if (choice == ToolChoice.Required && !haveTools)
                    throw ApiException.Invalid("tool_choice", "'required' needs tools");
                return (choice, null);
            case JsonObject named when NamedFunction(named) is { } name:
                if (!haveTools || !tools!.Any(t => (string?)t?["function"]?["name"] == name))
                    throw ApiException.Invalid("tool_choice", $"names the function '{name}', which is not among the tools");
                return (ToolChoice.Named, name);
            default:
                throw ApiException.Invalid("tool_choice", "must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        }
    }

    static string? NamedFunction(JsonObject choice) =>
        choice["function"]?["name"] is JsonValue name && name.GetValueKind() == JsonValueKind.String ? name.GetValue<string>() : null;

    /// <summary>Qwen3's soft switches: the last user message ending in /think or /no_think turns thinking on or off.</summary>
    static bool? ThinkingSwitch(JsonArray messages)
    {
        var lastUser = messages.LastOrDefault(m => (string?)m?["role"] == "user");
        string text = (lastUser?["content"] switch
        {
            JsonArray parts => string.Concat(parts.Select(part => (string?)part?["text"])),
            var content => (string?)content,
        } ?? "").TrimEnd();
        return text.EndsWith("/no_think", StringComparison.Ordinal) ? false : text.EndsWith("/think", StringComparison.Ordinal) ? true : null;
    }

    /// <summary>A grammar that forces one call, in Qwen's form, to the named tool or to any of them.</summary>
    static GrammarNode ToolCallGrammar(JsonArray tools, string? name)
    {
        var calls = new List<GrammarNode>();
        for (int i = 0; i < tools.Count; i++)
        {
            var function = tools[i]!["function"]!;
            string toolName = (string)function["name"]!;
            if (name is not null && toolName != name)
                continue;
            GrammarNode arguments;
            try
            {
                arguments = function["parameters"] is { } parameters ? JsonSchemaGrammar.Compile(parameters) : JsonSchemaGrammar.AnyObject();
            }
            catch (UnsupportedSchemaException e)
            {
                throw ApiException.Invalid($"tools[{i}].function.parameters", e.Message);
            }
            calls.Add(new ObjectNode([new ObjectProperty("name", new LiteralNode(JsonSerializer.Serialize(toolName)), true), new ObjectProperty("arguments", arguments, true)]));
        }
        return new SequenceNode(new LiteralNode("<tool_call>\n"), new ChoiceNode([.. calls]), new LiteralNode("\n</tool_call>"));
    }

    internal static GrammarNode? ResponseFormatGrammar(JsonObject body)
    {
        var format = RequestFields.Object(body, "response_format");
        if (format is null)
            return null;
        switch (RequestFields.String(format, "type", "response_format.type"))
        {
            case null or "text":
                return null;
            case "json_object":
                return JsonSchemaGrammar.AnyObject();
            case "json_schema":
                var spec = RequestFields.Object(format, "json_schema", "response_format.json_schema")
                    ?? throw new ApiException(400, "response_format.json_schema: is required", "response_format.json_schema", "missing_required_parameter");
                try
                {
                    return JsonSchemaGrammar.Compile(spec["schema"]);
                }
                catch (UnsupportedSchemaException e)
                {
                    throw ApiException.Invalid("response_format.json_schema." + e.Path, e.Message);
                }
            case var other:
                throw ApiException.Invalid("response_format.type", $"'{other}' is not text, json_object or json_schema");
        }
    }
}
