namespace ModelGrid.Engine.Vision;

/// <summary>An 8-bit RGB image, pixels interleaved row by row (R, G, B of pixel (0,0), then (1,0), …).</summary>
public sealed class RgbImage
{
    public RgbImage(int width, int height, byte[] pixels)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        if (pixels.LongLength != 3L * width * height)
            throw new ArgumentException($"{width}x{height} RGB needs {3L * width * height} bytes, got {pixels.LongLength}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }
    public byte[] Pixels { get; }

    /// <summary>A black image.</summary>
    public static RgbImage Black(int width, int height) => new(width, height, new byte[3L * width * height]);

    /// <summary>Copies <paramref name="source"/> into this image with its top-left corner at (<paramref name="left"/>, <paramref name="top"/>); it must fit.</summary>
    public void Paste(RgbImage source, int left, int top)
    {
        if (left < 0 || top < 0 || left + source.Width > Width || top + source.Height > Height)
            throw new ArgumentOutOfRangeException(nameof(source), $"a {source.Width}x{source.Height} image at ({left}, {top}) does not fit in {Width}x{Height}");
        int rowBytes = 3 * source.Width;
        for (int y = 0; y < source.Height; y++)
            source.Pixels.AsSpan(y * rowBytes, rowBytes).CopyTo(Pixels.AsSpan(3 * ((top + y) * Width + left), rowBytes));
    }
}
