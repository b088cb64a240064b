using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed class ImagePreprocessorTests
{
    /// <summary>The preprocessing of the first golden projector (its patch, merge, budget and normalization).</summary>
    static ImagePreprocessor GoldenPreprocessor()
    {
        using var encoder = VisionEncoder.Load(VisionGoldenCase.Load(VisionGoldenCase.Names().First()).MmprojPath, threads: 1);
        return encoder.Preprocessor;
    }

    [Theory]
    [InlineData(5000, 3000)]
    [InlineData(30000, 100)]
    [InlineData(100, 30000)]
    [InlineData(4097, 4095)]
    public void Large_images_shrink_into_the_pixel_budget_keeping_the_aspect_ratio(int width, int height)
    {
        var preprocessor = GoldenPreprocessor();
        var (w, h) = preprocessor.TargetSize(width, height);
        int align = preprocessor.Alignment;
        Assert.True(w % align == 0 && h % align == 0 && w >= align && h >= align, $"{w}x{h} is not a grid of {align}-pixel tokens");
        Assert.True((long)w * h <= preprocessor.MaxPixels, $"{w}x{h} exceeds {preprocessor.MaxPixels} pixels");
        if (w > align && h > align)
            Assert.InRange((double)w / h / ((double)width / height), 1 - 2.0 * align / Math.Min(w, h), 1 + 2.0 * align / Math.Min(w, h));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(10, 70)]
    [InlineData(33, 31)]
    public void Small_images_grow_to_the_minimum_budget(int width, int height)
    {
        var preprocessor = GoldenPreprocessor();
        var (w, h) = preprocessor.TargetSize(width, height);
        Assert.True(w % preprocessor.Alignment == 0 && h % preprocessor.Alignment == 0, $"{w}x{h} is not aligned");
        Assert.True((long)w * h >= preprocessor.MinPixels, $"{w}x{h} is below {preprocessor.MinPixels} pixels");
    }

    /// <summary>A wide image (40x11) whose fitted height falls short of the aligned canvas, so black rows pad it.</summary>
    [Fact]
    public void Resized_image_is_centred_on_black()
    {
        var preprocessor = GoldenPreprocessor();
        var source = ImageDecoder.Decode(VisionTestImages.Read("photo.pillow-bicubic-40x11.png"));
        var image = preprocessor.Preprocess(source);
        float scale = MathF.Min((float)image.Width / source.Width, (float)image.Height / source.Height);
        int fittedWidth = (int)MathF.Ceiling(source.Width * scale), fittedHeight = (int)MathF.Ceiling(source.Height * scale);
        int left = (image.Width - fittedWidth) / 2, top = (image.Height - fittedHeight) / 2;
        Assert.True(fittedWidth < image.Width || fittedHeight < image.Height, "the case should need padding");
        var fitted = PillowBicubic.Resize(source, fittedWidth, fittedHeight);
        for (int y = 0; y < image.Height; y++)
            for (int x = 0; x < image.Width; x++)
            {
                bool inside = x >= left && x < left + fittedWidth && y >= top && y < top + fittedHeight;
                for (int c = 0; c < 3; c++)
                {
                    byte expected = inside ? fitted.Pixels[3 * ((y - top) * fittedWidth + (x - left)) + c] : (byte)0;
                    Assert.Equal(expected, image.Canvas.Pixels[3 * (y * image.Width + x) + c]);
                    float normalized = (expected / 255f - preprocessor.Mean[c]) / preprocessor.Std[c];
                    Assert.Equal(normalized, image.Pixels[(c * image.Height + y) * image.Width + x]);
                }
            }
    }

    [Fact]
    public void Bad_files_surface_as_image_format_errors()
    {
        var preprocessor = GoldenPreprocessor();
        Assert.Throws<ImageFormatException>(() => preprocessor.Preprocess(VisionTestImages.PngWithHeader(60000, 60000, new byte[16])));
        var limited = preprocessor with { MaxDecodedPixels = 100 };
        var error = Assert.Throws<ImageFormatException>(() => limited.Preprocess(VisionTestImages.Read("photo.png")));
        Assert.Contains("over the limit of 100 pixels", error.Message);
    }
}
