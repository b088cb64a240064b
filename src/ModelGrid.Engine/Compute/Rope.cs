using System.Runtime.Intrinsics;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// A token's rotary position. Text tokens use (p, p, p); an image token of a multimodal model uses (t, row, column)
/// so that M-RoPE can rotate frequency bands by different axes.
/// </summary>
public readonly record struct RopePosition(int Time, int Height, int Width)
{
    public static RopePosition Text(int position) => new(position, position, position);
}

/// <summary>
/// Rotary position embedding, NeoX style (as Qwen uses): dimension i is rotated with dimension i + n/2 at angle
/// position · base^(-2i/n), on the first <see cref="RotaryDimensions"/> of each head (partial RoPE).
/// With M-RoPE sections [t, h, w, ...] (Qwen3-VL, Qwen3.5), frequencies are interleaved over the axes as llama.cpp's
/// IMROPE does: frequency i takes its angle from h when i % 3 == 1 and i &lt; 3·sections[1], from w when i % 3 == 2 and
/// i &lt; 3·sections[2], from t when i % 3 == 0 and i &lt; 3·sections[0], and otherwise from a fourth axis that is always 0.
/// </summary>
public sealed class Rope
{
    readonly float[] _inverseFrequencies;
    readonly byte[]? _axisOfFrequency;

    public Rope(int rotaryDimensions, double frequencyBase, IReadOnlyList<int>? sections = null)
    {
        RotaryDimensions = rotaryDimensions;
        _inverseFrequencies = new float[rotaryDimensions / 2];
        for (int i = 0; i < _inverseFrequencies.Length; i++)
            _inverseFrequencies[i] = (float)Math.Pow(frequencyBase, -2.0 * i / rotaryDimensions);
        if (sections is { Count: >= 3 })
        {
            _axisOfFrequency = new byte[_inverseFrequencies.Length];
            for (int i = 0; i < _axisOfFrequency.Length; i++)
                _axisOfFrequency[i] = (i % 3) switch
                {
                    1 when i < 3 * sections[1] => AxisHeight,
                    2 when i < 3 * sections[2] => AxisWidth,
                    0 when i < 3 * sections[0] => AxisTime,
                    _ => AxisNone,
                };
        }
    }

    const byte AxisTime = 0, AxisHeight = 1, AxisWidth = 2, AxisNone = 3;

    public int RotaryDimensions { get; }

    /// <summary>
    /// Rotates every head of one token's queries and of its keys (heads × headDim values each): the angles are computed
    /// once for both.
    /// </summary>
    public void Apply(Span<float> queries, Span<float> keys, int headDim, RopePosition position)
    {
        int half = RotaryDimensions / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int i = 0; i < half; i++)
        {
            int axisPosition = (_axisOfFrequency?[i] ?? AxisTime) switch
            {
                AxisTime => position.Time,
                AxisHeight => position.Height,
                AxisWidth => position.Width,
                _ => 0,
            };
            float theta = axisPosition * _inverseFrequencies[i];
            cos[i] = MathF.Cos(theta);
            sin[i] = MathF.Sin(theta);
        }
        RotateHeads(queries, headDim, cos, sin);
        RotateHeads(keys, headDim, cos, sin);
    }

    /// <summary>(a, b) → (a·cos − b·sin, a·sin + b·cos) for the pairs (i, i + half) of each head's rotary dimensions.</summary>
    public static void RotateHeads(Span<float> heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = cos.Length;
        for (int start = 0; start < heads.Length; start += headDim)
        {
            var first = heads.Slice(start, half);
            var second = heads.Slice(start + half, half);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + Vector256<float>.Count <= half; i += Vector256<float>.Count)
                {
                    var a = Vector256.Create(first.Slice(i, Vector256<float>.Count));
                    var b = Vector256.Create(second.Slice(i, Vector256<float>.Count));
                    var c = Vector256.Create(cos.Slice(i, Vector256<float>.Count));
                    var s = Vector256.Create(sin.Slice(i, Vector256<float>.Count));
                    (a * c - b * s).CopyTo(first.Slice(i, Vector256<float>.Count));
                    (a * s + b * c).CopyTo(second.Slice(i, Vector256<float>.Count));
                }
            }
            RotatePairsScalar(first[i..], second[i..], cos[i..], sin[i..]);
        }
    }

    public static void RotateHeadsScalar(Span<float> heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = cos.Length;
        for (int start = 0; start < heads.Length; start += headDim)
            RotatePairsScalar(heads.Slice(start, half), heads.Slice(start + half, half), cos, sin);
    }

    static void RotatePairsScalar(Span<float> first, Span<float> second, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        for (int i = 0; i < first.Length; i++)
        {
            float a = first[i], b = second[i];
            first[i] = a * cos[i] - b * sin[i];
            second[i] = a * sin[i] + b * cos[i];
        }
    }
}
