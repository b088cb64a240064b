namespace ModelGrid.Server.Structured;

/// <summary>
/// Runs a <see cref="GrammarNode"/> grammar over bytes as a nondeterministic pushdown automaton. A state is an
/// immutable stack of frames, so states branch cheaply (alternatives, the token trie walk); null is the finished state.
/// </summary>
sealed class GrammarMatcher
{
    /// <summary>Bounds the number of live alternatives so a pathological schema cannot blow up a step.</summary>
    const int MaxStates = 256;
    const int MaxNumberDigits = 24;

    /// <summary>One grammar node in progress: which part of it comes next (Phase) and a counter (characters, items, properties).</summary>
    internal sealed record Frame(GrammarNode Node, int Phase, int Count, Frame? Parent);

    List<Frame?> _states;

    public GrammarMatcher(GrammarNode root) => _states = [new Frame(root, 0, 0, null)];

    internal IReadOnlyList<Frame?> States => _states;

    public bool IsComplete => _states.Contains(null);

    public bool IsDead => _states.Count == 0;

    public void Accept(ReadOnlySpan<byte> bytes) => _states = Advance(_states, bytes);

    internal static List<Frame?> Advance(List<Frame?> states, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            var next = new List<Frame?>();
            foreach (var state in states)
            {
                Feed(state, b, next);
                if (next.Count > MaxStates)
                    break;
            }
            states = next;
            if (states.Count == 0)
                break;
        }
        return states;
    }

    internal static void Feed(Frame? state, byte c, List<Frame?> output)
    {
        if (state is null)
            return; // finished: nothing may follow
        var rest = state.Parent;
        switch (state.Node)
        {
            case LiteralNode literal:
                if (literal.Bytes[state.Phase] == c)
                    output.Add(state.Phase + 1 == literal.Bytes.Length ? rest : state with { Phase = state.Phase + 1 });
                break;
            case StringNode text:
                FeedString(state, text, c, output);
                break;
            case NumberNode number:
                FeedNumber(state, number, c, output);
                break;
            case ChoiceNode choice:
                foreach (var option in choice.Options)
                    Feed(new Frame(option, 0, 0, rest), c, output);
                break;
            case SequenceNode sequence:
                Feed(new Frame(sequence.Parts[state.Phase], 0, 0,
                    state.Phase + 1 < sequence.Parts.Length ? state with { Phase = state.Phase + 1 } : rest), c, output);
                break;
            case ArrayNode array:
                FeedArray(state, array, c, output);
                break;
            case ObjectNode obj:
                FeedObject(state, obj, c, output);
                break;
            case MapNode map:
                FeedMap(state, map, c, output);
                break;
        }
    }

    static void FeedString(Frame state, StringNode node, byte c, List<Frame?> output)
    {
        // Phase 0: before the opening quote; 1: inside; 2: after a backslash; 3..6: after \u and that many-3 hex digits.
        switch (state.Phase)
        {
            case 0:
                if (c == '"')
                    output.Add(state with { Phase = 1 });
                break;
            case 1:
                if (c == '"')
                {
                    if (state.Count >= node.MinLength)
                        output.Add(state.Parent);
                }
                else if (c == '\\')
                {
                    if (state.Count < node.MaxLength)
                        output.Add(state with { Phase = 2 });
                }
                else if (c >= 0x20)
                {
                    bool continuation = (c & 0xC0) == 0x80;
                    if (continuation)
                        output.Add(state);
                    else if (state.Count < node.MaxLength)
                        output.Add(state with { Count = state.Count + 1 });
                }
                break;
            case 2:
                if (c == 'u')
                    output.Add(state with { Phase = 3 });
                else if ("\"\\/bfnrt".Contains((char)c))
                    output.Add(state with { Phase = 1, Count = state.Count + 1 });
                break;
            default:
                if (Uri.IsHexDigit((char)c))
                    output.Add(state.Phase == 6 ? state with { Phase = 1, Count = state.Count + 1 } : state with { Phase = state.Phase + 1 });
                break;
        }
    }

    static void FeedNumber(Frame state, NumberNode node, byte c, List<Frame?> output)
    {
        // Phases: 0 start, 1 after '-', 2 integer digits, 3 after a leading 0, 4 after '.', 5 fraction digits,
        // 6 after 'e', 7 after the exponent sign, 8 exponent digits. 2, 3, 5 and 8 may end the number.
        bool digit = c is >= (byte)'0' and <= (byte)'9';
        bool moreDigits = state.Count < MaxNumberDigits;
        Frame? Next(int phase) => digit && !moreDigits ? null : state with { Phase = phase, Count = state.Count + (digit ? 1 : 0) };
        void Add(int phase)
        {
            if (Next(phase) is { } next)
                output.Add(next);
        }
        switch (state.Phase)
        {
            case 0:
                if (c == '-') Add(1);
                else if (c == '0') Add(3);
                else if (digit) Add(2);
                return;
            case 1:
                if (c == '0') Add(3);
                else if (digit) Add(2);
                return;
            case 4:
                if (digit) Add(5);
                return;
            case 6:
                if (c is (byte)'+' or (byte)'-') Add(7);
                else if (digit) Add(8);
                return;
            case 7:
                if (digit) Add(8);
                return;
        }
        // An end state: continue the number, or end it and let what follows take the byte.
        switch (state.Phase)
        {
            case 2 when digit: Add(2); break;
            case 5 when digit: Add(5); break;
            case 8 when digit: Add(8); break;
        }
        if (!node.Integer)
        {
            if (c == '.' && state.Phase is 2 or 3) Add(4);
            if (c is (byte)'e' or (byte)'E' && state.Phase is 2 or 3 or 5) Add(6);
        }
        Feed(state.Parent, c, output);
    }

    static void FeedArray(Frame state, ArrayNode node, byte c, List<Frame?> output)
    {
        // Phase 0: before '['; 1: after '['; 2: after an item (Count items so far).
        switch (state.Phase)
        {
            case 0:
                if (c == '[')
                    output.Add(state with { Phase = 1 });
                break;
            case 1:
                if (c == ']' && node.MinItems == 0)
                    output.Add(state.Parent);
                else if (node.MaxItems > 0)
                    Feed(new Frame(node.Item, 0, 0, state with { Phase = 2, Count = 1 }), c, output);
                break;
            default:
                if (c == ']' && state.Count >= node.MinItems)
                    output.Add(state.Parent);
                else if (c == ',' && state.Count < node.MaxItems)
                    output.Add(new Frame(node.Item, 0, 0, state with { Count = state.Count + 1 }));
                break;
        }
    }

    static void FeedObject(Frame state, ObjectNode node, byte c, List<Frame?> output)
    {
        // Phase 0: before '{'; 1: after '{'; 2: after a property. Count: index of the next property that may come.
        if (state.Phase == 0)
        {
            if (c == '{')
                output.Add(state with { Phase = 1 });
            return;
        }
        var properties = node.Properties;
        if (c == '}' && properties.Skip(state.Count).All(p => !p.Required))
            output.Add(state.Parent);
        for (int j = state.Count; j < properties.Count; j++)
        {
            var property = properties[j];
            var afterValue = state with { Phase = 2, Count = j + 1 };
            Feed(new Frame(state.Phase == 1 ? property.FirstKey : property.NextKey, 0, 0, new Frame(property.Value, 0, 0, afterValue)), c, output);
            if (property.Required)
                break;
        }
    }

    static void FeedMap(Frame state, MapNode node, byte c, List<Frame?> output)
    {
        // Phase 0: before '{'; 1: after '{'; 2: after a value.
        Frame Entry(Frame after) => new(node.Key, 0, 0, new Frame(node.Colon, 0, 0, new Frame(node.Value, 0, 0, after)));
        switch (state.Phase)
        {
            case 0:
                if (c == '{')
                    output.Add(state with { Phase = 1 });
                break;
            case 1:
                if (c == '}')
                    output.Add(state.Parent);
                else
                    Feed(Entry(state with { Phase = 2 }), c, output);
                break;
            default:
                if (c == '}')
                    output.Add(state.Parent);
                else if (c == ',')
                    output.Add(Entry(state));
                break;
        }
    }
}
