using System.Runtime.CompilerServices;
using ModelGrid.Engine.Text.Tokenization;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Structured;

/// <summary>
/// Constrained decoding: before each sample, every token whose bytes the grammar cannot take next is masked out,
/// and the end-of-generation tokens are allowed only once the grammar is complete. The allowed set is found by
/// walking a trie of the vocabulary's token bytes alongside the grammar, so shared prefixes are matched once.
/// </summary>
sealed class GrammarConstraint : ITokenConstraint
{
    static readonly ConditionalWeakTable<ByteLevelBpeTokenizer, TokenTrie> Tries = new();

    readonly GrammarMatcher _matcher;
    readonly ByteLevelBpeTokenizer _tokenizer;
    readonly TokenTrie _trie;
    readonly IReadOnlySet<int> _endTokens;
    bool[] _allowed = [];

    public GrammarConstraint(GrammarNode grammar, ByteLevelBpeTokenizer tokenizer, IReadOnlySet<int> endTokens)
    {
        _matcher = new GrammarMatcher(grammar);
        _tokenizer = tokenizer;
        _trie = Tries.GetValue(tokenizer, t => new TokenTrie(t));
        _endTokens = endTokens;
    }

    public bool IsComplete => _matcher.IsComplete;

    public void Mask(Span<float> logits)
    {
        if (_allowed.Length < logits.Length)
            _allowed = new bool[logits.Length];
        var allowed = _allowed.AsSpan(0, logits.Length);
        allowed.Clear();
        var live = _matcher.States.Where(s => s is not null).ToList();
        if (live.Count > 0)
            _trie.Walk(live, allowed);
        if (_matcher.IsComplete)
            foreach (int end in _endTokens)
                if ((uint)end < (uint)allowed.Length)
                    allowed[end] = true;
        for (int i = 0; i < logits.Length; i++)
            if (!allowed[i])
                logits[i] = float.NegativeInfinity;
    }

    public void Accept(int token) => _matcher.Accept(_tokenizer.TokenBytes(token));

    /// <summary>The vocabulary's token byte strings as a trie; control and unused tokens are left out.</summary>
    sealed class TokenTrie
    {
        sealed class Node
        {
            public readonly Dictionary<byte, Node> Children = [];
            public readonly List<int> Tokens = [];
        }

        readonly Node _root = new();

        public TokenTrie(ByteLevelBpeTokenizer tokenizer)
        {
            for (int id = 0; id < tokenizer.VocabularySize; id++)
            {
                var type = tokenizer.GetTokenType(id);
                var bytes = tokenizer.TokenBytes(id);
                if (type is TokenType.Control or TokenType.Unused || bytes.IsEmpty)
                    continue;
                var node = _root;
                foreach (byte b in bytes)
                {
                    if (!node.Children.TryGetValue(b, out var child))
                        node.Children[b] = child = new Node();
                    node = child;
                }
                node.Tokens.Add(id);
            }
        }

        public void Walk(List<GrammarMatcher.Frame?> states, Span<bool> allowed) => Walk(_root, states, allowed);

        static void Walk(Node node, List<GrammarMatcher.Frame?> states, Span<bool> allowed)
        {
            foreach (var (b, child) in node.Children)
            {
                var next = new List<GrammarMatcher.Frame?>();
                foreach (var state in states)
                    GrammarMatcher.Feed(state, b, next);
                if (next.Count == 0)
                    continue;
                foreach (int token in child.Tokens)
                    if ((uint)token < (uint)allowed.Length)
                        allowed[token] = true;
                if (child.Children.Count > 0)
                    Walk(child, next, allowed);
            }
        }
    }
}
