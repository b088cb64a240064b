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

    /// <summary>Tokens added to the batch being built but not yet computed.</summary>
    internal int Pending { get; set; }

    internal T LayerState<T>(int layer, Func<T> create) where T : class, IDisposable =>
        (T)(_layerStates[layer] ??= create());

    /// <summary>Forgets tokens from <paramref name="length"/> on (e.g. to reuse a shared prefix); attention layers only.</summary>
    public void Truncate(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Length);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        foreach (var state in _layerStates)
            if (state is IRecurrentState)
                throw new InvalidOperationException("a sequence with recurrent layers cannot be truncated");
        Length = length;
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
