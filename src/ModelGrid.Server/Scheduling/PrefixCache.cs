using ModelGrid.Engine.Models;

namespace ModelGrid.Server.Scheduling;

/// <summary>
/// Sequences whose generation ended, kept with the tokens their state holds so that a later prompt sharing a prefix
/// (a system prompt, the earlier turns of a chat) continues from them instead of computing that prefix again.
/// Least recently used entries are evicted first. Used only by the scheduler thread.
/// </summary>
sealed class PrefixCache(KvBlockPool pool)
{
    sealed record Entry(SequenceState State, int[] Tokens, int Blocks);

    readonly LinkedList<Entry> _entries = new();

    public int Count => _entries.Count;

    /// <summary>Keeps <paramref name="state"/> (holding <paramref name="tokens"/>) if its blocks fit, else disposes it.</summary>
    public void Add(SequenceState state, int[] tokens)
    {
        int blocks = pool.BlocksFor(tokens.Length);
        while (!pool.TryAllocate(blocks))
            if (!EvictOldest())
            {
                state.Dispose();
                return;
            }
        _entries.AddFirst(new Entry(state, tokens, blocks));
    }

    /// <summary>
    /// Takes the cached sequence sharing the longest prefix with <paramref name="prompt"/>, cut back to that prefix (at
    /// most all but the prompt's last token, whose logits must be computed). Null when no entry shares anything usable.
    /// </summary>
    public (SequenceState State, int Shared)? TakeLongestPrefix(IReadOnlyList<int> prompt)
    {
        var candidates = new List<(LinkedListNode<Entry> Node, int Shared)>();
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            int shared = CommonPrefix(node.Value.Tokens, prompt);
            if (shared > 0)
                candidates.Add((node, shared));
        }
        foreach (var (node, shared) in candidates.OrderByDescending(c => c.Shared))
        {
            var entry = node.Value;
            if (shared < entry.State.Length)
            {
                try
                {
                    entry.State.Truncate(shared);
                }
                catch (InvalidOperationException)
                {
                    continue; // recurrent layers cannot be rewound: only an entry that is a whole prefix of the prompt helps
                }
            }
            _entries.Remove(node);
            pool.Release(entry.Blocks);
            return (entry.State, shared);
        }
        return null;
    }

    public bool EvictOldest()
    {
        if (_entries.Last is not { } last)
            return false;
        _entries.RemoveLast();
        last.Value.State.Dispose();
        pool.Release(last.Value.Blocks);
        return true;
    }

    public void Clear()
    {
        while (EvictOldest())
        {
        }
    }

    static int CommonPrefix(int[] cached, IReadOnlyList<int> prompt)
    {
        int limit = Math.Min(cached.Length, prompt.Count - 1), shared = 0;
        while (shared < limit && cached[shared] == prompt[shared])
            shared++;
        return shared;
    }
}
