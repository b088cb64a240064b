using System.Text.Json.Nodes;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>Bounds that stop a runaway or hostile template; exceeding one raises <see cref="ChatTemplateErrorKind.LimitExceeded"/>.</summary>
public sealed record ChatTemplateLimits
{
    public static ChatTemplateLimits Default { get; } = new();

    /// <summary>For-loop iterations (including items a loop's <c>if</c> filter looks at) plus macro calls, over the whole render.</summary>
    public int MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>Characters of output, and the size of any single string or list the template builds.</summary>
    public int MaxOutputLength { get; init; } = 16 * 1024 * 1024;

    /// <summary>How deeply macro calls may nest (recursion).</summary>
    public int MaxCallDepth { get; init; } = 100;
}

/// <summary>
/// A model's Jinja2 chat template (GGUF <c>tokenizer.chat_template</c> or tokenizer_config.json <c>chat_template</c>),
/// rendered as Hugging Face transformers renders it: jinja2 with <c>trim_blocks</c> and <c>lstrip_blocks</c>, an
/// immutable sandbox, <c>raise_exception</c>, and <c>tojson</c> without ASCII or HTML escaping.
/// </summary>
public sealed class ChatTemplate
{
    readonly IReadOnlyList<Statement> body;

    ChatTemplate(string source, IReadOnlyList<Statement> body)
    {
        Source = source;
        this.body = body;
    }

    public string Source { get; }

    /// <exception cref="ChatTemplateException">The source is not a valid template (kind <see cref="ChatTemplateErrorKind.Syntax"/>).</exception>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        try
        {
            return new ChatTemplate(source, Parser.Parse(source));
        }
        catch (InsufficientExecutionStackException)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.Syntax, "template nests too deeply", 0, 0);
        }
    }

    /// <summary>
    /// Renders with exactly these top-level variables (typically <c>messages</c>, <c>tools</c>, <c>add_generation_prompt</c>,
    /// <c>enable_thinking</c>, <c>bos_token</c>...). Variables not given are jinja2 Undefined: falsy, empty when printed.
    /// </summary>
    /// <exception cref="ChatTemplateException">Rendering failed: <c>raise_exception</c>, a bad operation, or a limit.</exception>
    public string Render(JsonObject variables, ChatTemplateLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var renderer = new Renderer(limits ?? ChatTemplateLimits.Default);
        try
        {
            return renderer.Render(body, PythonValues.FromJsonObject(variables));
        }
        catch (TemplateRuntimeException e)
        {
            throw new ChatTemplateException(e.Kind, e.Message, 0, 0);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, "template recursion exhausted the stack", 0, 0);
        }
    }
}
