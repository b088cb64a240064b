using System.Text.Json.Nodes;

namespace ModelGrid.Server.Chat;

/// <summary>A piece of an assistant reply as it streams: visible text, reasoning, or a complete tool call.</summary>
public abstract record AssistantDelta;

public sealed record ContentDelta(string Text) : AssistantDelta;

public sealed record ReasoningDelta(string Text) : AssistantDelta;

public sealed record ToolCallDelta(int Index, string Id, ParsedToolCall Call) : AssistantDelta;

/// <summary>
/// Splits streamed model text into content, reasoning (Qwen3's <c>&lt;think&gt;…&lt;/think&gt;</c>) and tool calls
/// (<c>&lt;tool_call&gt;…&lt;/tool_call&gt;</c>). Text that could be the start of a tag is held back until it is known
/// not to be one; a tool-call block is emitted once complete, or as plain content if it does not parse.
/// </summary>
public sealed class AssistantOutputParser
{
    const string ThinkOpen = "<think>", ThinkClose = "</think>", CallOpen = "<tool_call>", CallClose = "</tool_call>";

    enum Mode { Content, Reasoning, ToolCall }

    readonly bool _parseToolCalls;
    readonly bool _parseReasoning;
    readonly bool _parallelToolCalls;
    readonly JsonArray? _tools;
    readonly System.Text.StringBuilder _pending = new();
    Mode _mode;
    bool _contentStarted;
    bool _trimContentStart;
    int _calls;

    /// <param name="startInReasoning">The prompt ended inside an open <c>&lt;think&gt;</c> block (thinking templates).</param>
    public AssistantOutputParser(bool parseToolCalls, bool parseReasoning, bool startInReasoning, bool parallelToolCalls = true, JsonArray? tools = null)
    {
        _parseToolCalls = parseToolCalls;
        _parseReasoning = parseReasoning;
        _parallelToolCalls = parallelToolCalls;
        _tools = tools;
        _mode = parseReasoning && startInReasoning ? Mode.Reasoning : Mode.Content;
    }

    public int ToolCalls => _calls;

    public List<AssistantDelta> Push(string text)
    {
        var deltas = new List<AssistantDelta>();
        _pending.Append(text);
        while (_mode switch
        {
            Mode.Content => ConsumeContent(_pending.ToString(), deltas),
            Mode.Reasoning => ConsumeReasoning(_pending.ToString(), deltas),
            _ => ConsumeToolCall(_pending.ToString(), deltas),
        })
        {
        }
        return deltas;
    }

    /// <summary>Emits content up to the next tag and switches mode (true), or up to a possible tag start (false).</summary>
    bool ConsumeContent(string pending, List<AssistantDelta> deltas)
    {
        var (at, tag) = FirstTag(pending, ContentTags());
        if (at < 0)
        {
            int hold = HeldBack(pending, ContentTags());
            EmitContent(deltas, pending[..^hold]);
            _pending.Remove(0, pending.Length - hold);
            return false;
        }
        EmitContent(deltas, pending[..at]);
        _pending.Remove(0, at + tag!.Length);
        _mode = tag == ThinkOpen ? Mode.Reasoning : Mode.ToolCall;
        return true;
    }

    bool ConsumeReasoning(string pending, List<AssistantDelta> deltas)
    {
        int at = pending.IndexOf(ThinkClose, StringComparison.Ordinal);
        if (at < 0)
        {
            int hold = HeldBack(pending, [ThinkClose]);
            Emit(deltas, new ReasoningDelta(pending[..^hold]));
            _pending.Remove(0, pending.Length - hold);
            return false;
        }
        Emit(deltas, new ReasoningDelta(pending[..at]));
        _pending.Remove(0, at + ThinkClose.Length);
        _mode = Mode.Content;
        _trimContentStart = true;
        return true;
    }

    /// <summary>A tool call is emitted whole once its closing tag arrives; until then it is held.</summary>
    bool ConsumeToolCall(string pending, List<AssistantDelta> deltas)
    {
        int at = pending.IndexOf(CallClose, StringComparison.Ordinal);
        if (at < 0)
            return false;
        EmitCall(deltas, pending[..at]);
        _pending.Remove(0, at + CallClose.Length);
        _mode = Mode.Content;
        _trimContentStart = true;
        return true;
    }

    /// <summary>Ends the stream: releases held-back text; an unterminated tool call is parsed as it stands.</summary>
    public List<AssistantDelta> Finish()
    {
        var deltas = new List<AssistantDelta>();
        string pending = _pending.ToString();
        _pending.Clear();
        switch (_mode)
        {
            case Mode.Content:
                EmitContent(deltas, pending);
                break;
            case Mode.Reasoning:
                Emit(deltas, new ReasoningDelta(pending));
                break;
            case Mode.ToolCall:
                EmitCall(deltas, pending, closed: false);
                break;
        }
        _mode = Mode.Content;
        return deltas;
    }

    string[] ContentTags() => (_parseToolCalls, _parseReasoning && !_contentStarted) switch
    {
        (true, true) => [CallOpen, ThinkOpen],
        (true, false) => [CallOpen],
        (false, true) => [ThinkOpen],
        _ => [],
    };

    void EmitCall(List<AssistantDelta> deltas, string body, bool closed = true)
    {
        if (ToolCallParser.TryParse(body, _tools) is { } call && (_parallelToolCalls || _calls == 0))
        {
            deltas.Add(new ToolCallDelta(_calls++, "call_" + Guid.NewGuid().ToString("N")[..24], call));
            return;
        }
        EmitContent(deltas, CallOpen + body + (closed ? CallClose : ""));
    }

    void EmitContent(List<AssistantDelta> deltas, string text)
    {
        if (_trimContentStart)
        {
            text = text.TrimStart();
            if (text.Length == 0)
                return;
            _trimContentStart = false;
        }
        if (text.Length == 0)
            return;
        if (!string.IsNullOrWhiteSpace(text))
            _contentStarted = true;
        deltas.Add(new ContentDelta(text));
    }

    static void Emit(List<AssistantDelta> deltas, ReasoningDelta delta)
    {
        if (delta.Text.Length > 0)
            deltas.Add(delta);
    }

    static (int At, string? Tag) FirstTag(string text, string[] tags)
    {
        (int at, string? tag) best = (-1, null);
        foreach (string tag in tags)
            if (text.IndexOf(tag, StringComparison.Ordinal) is int at and >= 0 && (best.at < 0 || at < best.at))
                best = (at, tag);
        return best;
    }

    /// <summary>Length of the longest end of <paramref name="text"/> that is a proper prefix of a tag.</summary>
    static int HeldBack(string text, string[] tags)
    {
        int hold = 0;
        foreach (string tag in tags)
            for (int length = Math.Min(tag.Length - 1, text.Length); length > hold; length--)
                if (text.AsSpan(text.Length - length).SequenceEqual(tag.AsSpan(0, length)))
                {
                    hold = length;
                    break;
                }
        return hold;
    }
}
