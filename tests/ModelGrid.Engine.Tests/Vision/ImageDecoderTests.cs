using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed class ImageDecoderTests
{
    static RgbImage Photo() => ImageDecoder.Decode(VisionTestImages.Read("photo.png"));

    [Fact]
    public void Alpha_is_dropped_and_colour_kept()
    {
        var photo = Photo();
        var rgba = ImageDecoder.Decode(VisionTestImages.Read("photo-rgba.png"));
        Assert.Equal((photo.Width, photo.Height), (rgba.Width, rgba.Height));
        Assert.Equal(photo.Pixels, rgba.Pixels);
    }

    [Fact]
    public void Grey_is_widened_to_three_equal_channels_of_the_luma()
    {
        var photo = Photo();
        var grey = ImageDecoder.Decode(VisionTestImages.Read("photo-grey.png"));
        Assert.Equal((photo.Width, photo.Height), (grey.Width, grey.Height));
        for (int i = 0; i < grey.Width * grey.Height; i++)
        {
            var p = grey.Pixels.AsSpan(3 * i, 3);
            Assert.True(p[0] == p[1] && p[1] == p[2], $"pixel {i} is not grey: {p[0]}, {p[1]}, {p[2]}");
            var rgb = photo.Pixels.AsSpan(3 * i, 3);
            double luma = (rgb[0] * 299 + rgb[1] * 587 + rgb[2] * 114) / 1000.0;
            Assert.True(Math.Abs(p[0] - luma) <= 1, $"pixel {i}: grey {p[0]}, ITU-R 601 luma of the colour image {luma:F1}");
        }
    }

    /// <summary>Against libjpeg (Pillow's decoder, saved losslessly beside each JPEG): IDCTs and chroma upsampling differ by a little.</summary>
    [Theory]
    [InlineData("photo.jpg")]
    [InlineData("photo-progressive.jpg")]
    public void Jpeg_decodes_like_libjpeg(string file)
    {
        var libjpeg = ImageDecoder.Decode(VisionTestImages.Read(file + ".pillow.png"));
        var jpeg = ImageDecoder.Decode(VisionTestImages.Read(file));
        Assert.Equal((libjpeg.Width, libjpeg.Height), (jpeg.Width, jpeg.Height));
        var errors = libjpeg.Pixels.Zip(jpeg.Pixels, (a, b) => Math.Abs(a - b)).ToArray();
        Assert.True(errors.Average() < 1 && errors.Max() <= 8, $"mean absolute difference {errors.Average():F2}, largest {errors.Max()} against libjpeg");
    }

    [Fact]
    public void Empty_file_is_refused()
    {
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode([]));
        Assert.Contains("empty", error.Message);
    }

    [Theory]
    [InlineData("GIF89a\x01\x00\x01\x00\x00\x00\x00", "GIF")]
    [InlineData("RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP")]
    [InlineData("BM\x36\x00\x00\x00\x00\x00\x00\x00", "BMP")]
    [InlineData("II*\x00\x08\x00\x00\x00", "TIFF")]
    [InlineData("hello, this is not an image", "unrecognized")]
    public void Other_formats_are_refused_by_name(string header, string named)
    {
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(header.Select(c => (byte)c).ToArray()));
        Assert.Contains(named, error.Message);
        Assert.Contains("PNG and JPEG are supported", error.Message);
    }

    [Theory]
    [InlineData("photo.png")]
    [InlineData("photo.jpg")]
    [InlineData("photo-progressive.jpg")]
    public void Truncated_files_are_refused(string file)
    {
        var bytes = VisionTestImages.Read(file);
        foreach (int length in new[] { 40, bytes.Length / 2, bytes.Length * 3 / 4, bytes.Length - 2 })
        {
            if (file.EndsWith(".png") && length == bytes.Length - 2)
                continue; // only IEND's CRC is lost: every pixel is there
            var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(bytes.AsSpan(0, length)));
            Assert.Matches("truncated|corrupt", error.Message);
            Assert.Contains(file.EndsWith(".png") ? "PNG" : "JPEG", error.Message);
        }
    }

    [Fact]
    public void Corrupt_compressed_png_data_is_refused()
    {
        var bytes = VisionTestImages.Read("photo.png");
        int data = bytes.AsSpan().IndexOf("IDAT"u8) + 4;
        bytes[data] = 0xFF; // the zlib header: no valid compression method
        bytes[data + 1] = 0xFF;
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(bytes));
        Assert.Contains("corrupt", error.Message);
    }

    [Fact]
    public void Garbage_after_a_jpeg_signature_is_refused()
    {
        byte[] bytes = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9A];
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(bytes));
        Assert.Contains("corrupt JPEG", error.Message);
        Assert.Contains("byte 8", error.Message);
    }

    [Fact]
    public void Zero_size_png_is_refused()
    {
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(VisionTestImages.PngWithHeader(0, 10, [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])));
        Assert.Contains("zero size", error.Message);
    }

    [Fact]
    public void Png_decompression_bomb_is_refused_from_its_header_before_allocating()
    {
        // A few hundred bytes claiming 60000 x 60000 RGB (10.8 GB decoded).
        var bomb = VisionTestImages.PngWithHeader(60000, 60000, new byte[256]);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(bomb));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("60000x60000", error.Message);
        Assert.Contains("refused before decoding", error.Message);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated while refusing");
    }

    [Fact]
    public void Jpeg_decompression_bomb_is_refused_from_its_header()
    {
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(VisionTestImages.JpegWithFrameHeader(65000, 65000)));
        Assert.Contains("65000x65000", error.Message);
    }

    [Fact]
    public void Pixel_limit_is_configurable()
    {
        var photo = VisionTestImages.Read("photo.png");
        var error = Assert.Throws<ImageFormatException>(() => ImageDecoder.Decode(photo, maxPixels: 40 * 30 - 1));
        Assert.Contains("40x30", error.Message);
        Assert.Equal(40, ImageDecoder.Decode(photo, maxPixels: 40 * 30).Width);
    }
}
