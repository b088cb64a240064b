namespace ModelGrid.Engine.Models;

/// <summary>
/// Everything the model remembers about one sequence: how many tokens it holds, and each layer's state
/// (a KV cache for attention layers, a recurrent state for linear-attention layers).
/// </summary>
public sealed class SequenceState : IDisposable
{
    readonly IDisposable?[] _layerStates;

    internal SequenceState(int layerCount, int contextLength)
    {
        _layerStates = new IDisposable?[layerCount];
        ContextLength = contextLength;
    }

    /// <summary>Tokens whose state is stored (the next token's position).</summary>
    public int Length { get; internal set; }

    public int ContextLength { get; }

    /// <summary>The rotary position of the next text token; ahead of <see cref="Length"/> only after an image, whose rows advance it less.</summary>
    public int NextRopePosition { get; internal set; }

    /// <summary>Rows added to the batch being built but not yet computed, and how far they advance the rotary position.</summary>
    internal int Pending { get; set; }

    internal int PendingRopeAdvance { get; set; }

    internal T LayerState<T>(int layer, Func<T> create) where T : class, IDisposable =>
        (T)(_layerStates[layer] ??= create());

    /// <summary>
    /// Forgets tokens from <paramref name="length"/> on (e.g. to reuse a shared prefix). Only for text-only sequences of
    /// attention layers: recurrent state cannot be rewound, and after an image rows and rotary positions differ.
    /// </summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == Length)
            return;
        foreach (var state in _layerStates)
            if (state is IRecurrentState)
                throw new InvalidOperationException("a sequence with recurrent layers cannot be truncated");
        if (NextRopePosition != Length)
            throw new InvalidOperationException("a sequence holding an image cannot be truncated");
        Length = length;
        NextRopePosition = length;
    }

    /// <summary>
    /// An independent sequence holding the same tokens: each attention layer's keys and values and each recurrent
    /// layer's state are copied. How a prefix that cannot be cut back (recurrent layers, images) is kept for reuse
    /// while the original goes on.
    /// </summary>
    public SequenceState Fork()
    {
        if (Pending > 0)
            throw new InvalidOperationException("the sequence has rows in a batch that was not computed yet");
        var copy = new SequenceState(_layerStates.Length, ContextLength) { Length = Length, NextRopePosition = NextRopePosition };
        try
        {
            for (int i = 0; i < _layerStates.Length; i++)
                copy._layerStates[i] = _layerStates[i] switch
                {
                    null => null,
                    Blocks.KvCache cache => cache.Copy(Length),
                    Blocks.DeltaNetState recurrent => recurrent.Copy(),
                    var other => throw new NotSupportedException($"layer {i}'s state ({other.GetType().Name}) cannot be copied"),
                };
        }
        catch
        {
            copy.Dispose();
            throw;
        }
        return copy;
    }

    /// <summary>Forgets everything: the sequence starts empty, its layer state released.</summary>
    public void Reset()
    {
        Dispose();
        Length = 0;
        NextRopePosition = 0;
    }

    public void Dispose()
    {
        for (int i = 0; i < _layerStates.Length; i++)
        {
            _layerStates[i]?.Dispose();
            _layerStates[i] = null;
        }
    }
}

/// <summary>Marks layer state that summarizes all tokens so far and so cannot be cut back to a prefix.</summary>
public interface IRecurrentState;
