using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>One attention layer's keys and values for one sequence, f32, grown in steps up to the context length.</summary>
public sealed unsafe class KvCache(int keyWidth, int valueWidth, int contextLength) : IDisposable
{
    const int GrowthStep = 256;

    readonly NativeBuffer<float> _keys = new();
    readonly NativeBuffer<float> _values = new();

    public float* Key(int position) => _keys.Pointer + (long)position * keyWidth;

    public float* Value(int position) => _values.Pointer + (long)position * valueWidth;

    public void EnsurePosition(int position)
    {
        if ((long)(position + 1) * keyWidth <= _keys.Length)
            return;
        long positions = Math.Min(contextLength, (position / GrowthStep + 1) * GrowthStep);
        _keys.EnsureCapacity(positions * keyWidth);
        _values.EnsureCapacity(positions * valueWidth);
    }

    public long Bytes => (_keys.Length + _values.Length) * sizeof(float);

    public void Dispose()
    {
        _keys.Dispose();
        _values.Dispose();
    }
}
