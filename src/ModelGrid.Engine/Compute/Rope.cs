namespace ModelGrid.Engine.Compute;

/// <summary>
/// Rotary position embedding, NeoX style (as Qwen uses): dimension i is rotated with dimension i + n/2, at angle
/// position · base^(-2i/n). Only the first <see cref="RotaryDimensions"/> of each head rotate (partial RoPE).
/// </summary>
public sealed class Rope
{
    readonly float[] _inverseFrequencies;

    public Rope(int rotaryDimensions, double frequencyBase)
    {
        RotaryDimensions = rotaryDimensions;
        _inverseFrequencies = new float[rotaryDimensions / 2];
        for (int i = 0; i < _inverseFrequencies.Length; i++)
            _inverseFrequencies[i] = (float)Math.Pow(frequencyBase, -2.0 * i / rotaryDimensions);
    }

    public int RotaryDimensions { get; }

    /// <summary>Rotates every head of one token's vector <paramref name="heads"/> (heads × headDim values).</summary>
    public void Apply(Span<float> heads, int headDim, int position)
    {
        int half = RotaryDimensions / 2;
        Span<float> cos = stackalloc float[half];
        Span<float> sin = stackalloc float[half];
        for (int i = 0; i < half; i++)
        {
            float theta = position * _inverseFrequencies[i];
            cos[i] = MathF.Cos(theta);
            sin[i] = MathF.Sin(theta);
        }
        for (int start = 0; start < heads.Length; start += headDim)
        {
            var head = heads.Slice(start, RotaryDimensions);
            for (int i = 0; i < half; i++)
            {
                float a = head[i], b = head[i + half];
                head[i] = a * cos[i] - b * sin[i];
                head[i + half] = a * sin[i] + b * cos[i];
            }
        }
    }
}
