using ModelGrid.Engine.Models;

namespace ModelGrid.Server.Scheduling;

/// <summary>
/// Sequence states kept with the prompt keys they hold (token ids, and one key per image standing for its rows) so that
/// a later prompt sharing a prefix (a system prompt, the earlier turns of a chat) continues from them instead of
/// computing that prefix again. Two kinds: a finished sequence of an attention-only text model can be cut back to any
/// prefix, so it is handed out (once) cut to the shared part; a state that cannot be cut back (recurrent layers, or an
/// image in it) only serves prompts that extend all of it, and is copied for each of them, so a snapshot of a shared
/// system prompt is computed once and serves every request that starts with it. Least recently used entries are evicted
/// first. Used only by the scheduler thread.
/// </summary>
sealed class PrefixCache(KvBlockPool pool)
{
    sealed record Entry(SequenceState State, long[] Key, int Blocks, bool Rewindable);

    readonly LinkedList<Entry> _entries = new();

    public int Count => _entries.Count;

    /// <summary>What a new prompt starts from: a state holding its first <see cref="Shared"/> prompt ids.</summary>
    public readonly record struct Hit(SequenceState State, int Shared, bool Copied);

    /// <summary>Keeps <paramref name="state"/> (holding <paramref name="key"/>) if its blocks fit, else disposes it.</summary>
    public void Add(SequenceState state, long[] key, bool rewindable)
    {
        int blocks = pool.BlocksFor(state.Length);
        if (!MakeRoom(blocks))
        {
            state.Dispose();
            return;
        }
        _entries.AddFirst(new Entry(state, key, blocks, rewindable));
    }

    /// <summary>
    /// Keeps a copy of <paramref name="state"/>, which holds <paramref name="key"/> and goes on computing, unless an entry
    /// with that key is cached already or the blocks do not fit.
    /// </summary>
    public void AddCopy(SequenceState state, long[] key)
    {
        for (var node = _entries.First; node is not null; node = node.Next)
            if (node.Value.Key.AsSpan().SequenceEqual(key))
            {
                Touch(node);
                return;
            }
        int blocks = pool.BlocksFor(state.Length);
        if (MakeRoom(blocks))
            _entries.AddFirst(new Entry(state.Fork(), key, blocks, Rewindable: false));
    }

    /// <summary>
    /// The state sharing the longest prefix with <paramref name="prompt"/> (at most all but its last id, whose logits
    /// must be computed): a rewindable entry is taken out and cut back to the shared prefix; any other entry that the
    /// prompt extends entirely is copied and stays cached. Null when nothing usable is cached.
    /// </summary>
    public Hit? TakeLongestPrefix(long[] prompt)
    {
        Entry? best = null;
        LinkedListNode<Entry>? bestNode = null;
        int bestShared = 0;
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            int shared = CommonPrefix(node.Value.Key, prompt);
            bool usable = node.Value.Rewindable || shared == node.Value.Key.Length;
            if (usable && shared > bestShared)
                (best, bestNode, bestShared) = (node.Value, node, shared);
        }
        if (best is null)
            return null;
        if (!best.Rewindable)
        {
            Touch(bestNode!);
            return new Hit(best.State.Fork(), bestShared, Copied: true);
        }
        best.State.Truncate(bestShared);
        _entries.Remove(bestNode!);
        pool.Release(best.Blocks);
        return new Hit(best.State, bestShared, Copied: false);
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

    bool MakeRoom(int blocks)
    {
        while (!pool.TryAllocate(blocks))
            if (!EvictOldest())
                return false;
        return true;
    }

    void Touch(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _entries.AddFirst(node);
    }

    static int CommonPrefix(long[] cached, long[] prompt)
    {
        int limit = Math.Min(cached.Length, prompt.Length - 1), shared = 0;
        while (shared < limit && cached[shared] == prompt[shared])
            shared++;
        return shared;
    }
}
