namespace ModelGrid.Server.Structured;

/// <summary>
/// Runs a <see cref="GrammarNode"/> grammar over bytes as a nondeterministic pushdown automaton. A state is an
/// immutable stack of frames, so states branch cheaply (alternatives, the token trie walk); null is the finished state.
/// </summary>
sealed class GrammarMatcher
{
    /// <summary>Bounds the number of live alternatives so a pathological schema cannot blow up a step.</summary>
    const int MaxStates = 256;
    // Long enough for any value a double or long holds; bounded so a number cannot go on forever.
    const int MaxNumberDigits = 18;

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
        // Phase 0: before the opening quote; 1: inside; 2: after a backslash; 3..6: after \u and Phase-3 hex digits;
        // 7..9: inside a multi-byte UTF-8 character with Phase-6 continuation bytes to go. Count is the length in
        // UTF-16 units (a 4-byte character counts 2): no more than the code points JSON schema counts, and what .NET counts.
        switch (state.Phase)
        {
            case 0:
                if (c == '"')
                    output.Add(state with { Phase = 1 });
                break;
            case 1:
                int length = c switch
                {
                    (byte)'"' => 0,
                    < 0x20 => -1,
                    < 0x80 => 1,
                    >= 0xC2 and <= 0xDF => 1,
                    >= 0xE0 and <= 0xEF => 1,
                    >= 0xF0 and <= 0xF4 => 2,
                    _ => -1, // a stray continuation byte or an invalid lead byte
                };
                if (c == '"')
                {
                    if (state.Count >= node.MinLength)
                        output.Add(state.Parent);
                }
                else if (length > 0 && state.Count + length <= node.MaxLength)
                {
                    int continuation = c switch { < 0x80 => 0, <= 0xDF => 1, <= 0xEF => 2, _ => 3 };
                    output.Add(state with { Phase = c == '\\' ? 2 : continuation == 0 ? 1 : 6 + continuation, Count = state.Count + (c == '\\' ? 0 : length) });
                }
                break;
            case 2:
                if (c == 'u')
                    output.Add(state with { Phase = 3 });
                else if ("\"\\/bfnrt".Contains((char)c))
                    output.Add(state with { Phase = 1, Count = state.Count + 1 });
                break;
            case >= 3 and <= 6:
                if (Uri.IsHexDigit((char)c))
                    output.Add(state.Phase == 6 ? state with { Phase = 1, Count = state.Count + 1 } : state with { Phase = state.Phase + 1 });
                break;
            default:
                if ((c & 0xC0) == 0x80)
                    output.Add(state with { Phase = state.Phase == 7 ? 1 : state.Phase - 1 });
                break;
        }
    }

    static void FeedNumber(Frame state, NumberNode node, byte c, List<Frame?> output)
    {
        // Phases: 0 start, 1 after '-', 2 integer digits, 3 after a leading 0, 4 after '.', 5 fraction digits,
        // 6 after 'e', 7 after the exponent sign, 8 and 9 one and two exponent digits (two at most, so the value stays
        // finite). 2, 3, 5, 8 and 9 may end the number.
        // Count holds the integer and fraction digits; the exponent has at most two (phases 8, 9).
        bool digit = c is >= (byte)'0' and <= (byte)'9';
        bool counted = state.Phase < 6;
        void Add(int phase)
        {
            if (digit && counted && state.Count >= MaxNumberDigits)
                return;
            output.Add(state with { Phase = phase, Count = state.Count + (digit && counted ? 1 : 0) });
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
            case 8 when digit: Add(9); break;
        }
        if (!node.Integer)
        {
            if (c == '.' && state.Phase is 2 or 3 && state.Count < MaxNumberDigits) Add(4);
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
