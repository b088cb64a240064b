namespace ModelGrid.Engine.Text.Templates;

/// <summary>What went wrong while parsing or rendering a chat template.</summary>
public enum ChatTemplateErrorKind
{
    /// <summary>The template text is not valid Jinja (or uses an unknown tag, filter or test).</summary>
    Syntax,

    /// <summary>The template itself rejected the input through <c>raise_exception(message)</c>.</summary>
    Raised,

    /// <summary>An operation failed at render time (undefined attribute, type mismatch, bad argument...).</summary>
    Runtime,

    /// <summary>Rendering exceeded a <see cref="ChatTemplateLimits"/> bound (runaway loop, output or recursion).</summary>
    LimitExceeded,
}

/// <summary>A chat template failed to parse or render; <see cref="Line"/> and <see cref="Column"/> point into the template source.</summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException(ChatTemplateErrorKind kind, string reason, int line, int column)
        : base(line > 0 ? $"chat template line {line}, column {column}: {reason}" : $"chat template: {reason}")
    {
        Kind = kind;
        Reason = reason;
        Line = line;
        Column = column;
    }

    public ChatTemplateErrorKind Kind { get; }

    /// <summary>The message without its location; for <see cref="ChatTemplateErrorKind.Raised"/> exactly the template's own text.</summary>
    public string Reason { get; }

    /// <summary>1-based line in the template source, 0 when no location applies.</summary>
    public int Line { get; }

    /// <summary>1-based column in the template source, 0 when no location applies.</summary>
    public int Column { get; }
}

/// <summary>
/// Raised by value operations that do not know where in the template they run; the renderer attaches the
/// position of the expression being evaluated and rethrows it as a <see cref="ChatTemplateException"/>.
/// </summary>
internal sealed class TemplateRuntimeException(ChatTemplateErrorKind kind, string reason) : Exception(reason)
{
    public ChatTemplateErrorKind Kind { get; } = kind;

    public static TemplateRuntimeException Runtime(string reason) => new(ChatTemplateErrorKind.Runtime, reason);
}
