namespace ModelGrid.Engine.Vision;

/// <summary>
/// Pillow's bicubic resize (<c>Image.resize(size, Image.BICUBIC)</c>, libImaging/Resample.c), bit for bit, as
/// llama.cpp's mtmd reproduces it: Keys cubic with a = -0.5, support 2 widened by the scale when downsampling,
/// weights normalized then rounded to 22-bit fixed point, a horizontal pass then a vertical pass, each rounded and
/// clamped to u8. A dimension whose size does not change skips its pass.
/// </summary>
public static class PillowBicubic
{
    const int PrecisionBits = 32 - 8 - 2;
    const double Support = 2.0;
    const double A = -0.5;

    public static RgbImage Resize(RgbImage source, int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        var image = source;
        if (width != image.Width)
            image = ResampleHorizontal(image, width, Coefficients.For(image.Width, width));
        if (height != image.Height)
            image = ResampleVertical(image, height, Coefficients.For(image.Height, height));
        return ReferenceEquals(image, source) ? new RgbImage(source.Width, source.Height, (byte[])source.Pixels.Clone()) : image;
    }

    static double Filter(double x)
    {
        x = Math.Abs(x);
        if (x < 1.0)
            return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
        if (x < 2.0)
            return (((x - 5.0) * x + 8.0) * x - 4.0) * A;
        return 0.0;
    }

    /// <summary>For each output pixel: the first input pixel, how many follow, and their fixed-point weights (Size per output).</summary>
    sealed class Coefficients(int size, int[] first, int[] count, int[] weights)
    {
        public int Size => size;
        public int[] First => first;
        public int[] Count => count;
        public int[] Weights => weights;

        public static Coefficients For(int inSize, int outSize)
        {
            double scale = (double)inSize / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = Support * filterScale;
            int size = (int)Math.Ceiling(support) * 2 + 1;
            var first = new int[outSize];
            var count = new int[outSize];
            var weights = new int[outSize * size];
            var raw = new double[size];
            for (int o = 0; o < outSize; o++)
            {
                double center = (o + 0.5) * scale;
                int min = Math.Max((int)(center - support + 0.5), 0);
                int max = Math.Min((int)(center + support + 0.5), inSize) - min;
                double total = 0;
                for (int i = 0; i < max; i++)
                {
                    raw[i] = Filter((i + min - center + 0.5) / filterScale);
                    total += raw[i];
                }
                for (int i = 0; i < max; i++)
                {
                    double w = total != 0.0 ? raw[i] / total : raw[i];
                    // Pillow adds ±0.5 and truncates toward zero (not round-half-even).
                    weights[o * size + i] = (int)(w * (1 << PrecisionBits) + (w < 0 ? -0.5 : 0.5));
                }
                first[o] = min;
                count[o] = max;
            }
            return new Coefficients(size, first, count, weights);
        }
    }

    static byte Clip8(int fixedPoint) => (byte)Math.Clamp(fixedPoint >> PrecisionBits, 0, 255);

    static RgbImage ResampleHorizontal(RgbImage source, int width, Coefficients k)
    {
        var output = new byte[3L * width * source.Height];
        var input = source.Pixels;
        for (int y = 0; y < source.Height; y++)
        {
            int inRow = 3 * y * source.Width, outRow = 3 * y * width;
            for (int x = 0; x < width; x++)
            {
                int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                int p = inRow + 3 * k.First[x], w = x * k.Size;
                for (int i = 0; i < k.Count[x]; i++, p += 3)
                {
                    int weight = k.Weights[w + i];
                    s0 += input[p] * weight;
                    s1 += input[p + 1] * weight;
                    s2 += input[p + 2] * weight;
                }
                output[outRow + 3 * x] = Clip8(s0);
                output[outRow + 3 * x + 1] = Clip8(s1);
                output[outRow + 3 * x + 2] = Clip8(s2);
            }
        }
        return new RgbImage(width, source.Height, output);
    }

    static RgbImage ResampleVertical(RgbImage source, int height, Coefficients k)
    {
        int rowBytes = 3 * source.Width;
        var output = new byte[(long)rowBytes * height];
        var input = source.Pixels;
        var sums = new int[rowBytes];
        for (int y = 0; y < height; y++)
        {
            Array.Fill(sums, 1 << (PrecisionBits - 1));
            for (int i = 0; i < k.Count[y]; i++)
            {
                int weight = k.Weights[y * k.Size + i];
                var row = input.AsSpan((k.First[y] + i) * rowBytes, rowBytes);
                for (int j = 0; j < rowBytes; j++)
                    sums[j] += row[j] * weight;
            }
            var target = output.AsSpan(y * rowBytes, rowBytes);
            for (int j = 0; j < rowBytes; j++)
                target[j] = Clip8(sums[j]);
        }
        return new RgbImage(source.Width, height, output);
    }
}
