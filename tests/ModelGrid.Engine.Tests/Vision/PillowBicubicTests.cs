using System.Text.RegularExpressions;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed partial class PillowBicubicTests
{
    public static TheoryData<string> References() =>
        new(Directory.EnumerateFiles(VisionTestImages.Dir, "*.pillow-bicubic-*.png").Select(Path.GetFileName).Order(StringComparer.Ordinal)!);

    /// <summary>Shrinking, enlarging by a non-integer factor and changing one side only, against Pillow's own output.</summary>
    [Theory]
    [MemberData(nameof(References))]
    public void Resize_equals_pillow_exactly(string reference)
    {
        var match = ReferenceName().Match(reference);
        var source = ImageDecoder.Decode(VisionTestImages.Read(match.Groups["source"].Value + ".png"));
        var expected = ImageDecoder.Decode(VisionTestImages.Read(reference));
        var resized = PillowBicubic.Resize(source, int.Parse(match.Groups["w"].Value), int.Parse(match.Groups["h"].Value));
        Assert.Equal((expected.Width, expected.Height), (resized.Width, resized.Height));
        for (int i = 0; i < expected.Pixels.Length; i++)
            Assert.True(expected.Pixels[i] == resized.Pixels[i], $"byte {i} (pixel {i / 3}, channel {i % 3}): {resized.Pixels[i]}, Pillow {expected.Pixels[i]}");
    }

    [Fact]
    public void Same_size_is_an_unchanged_copy()
    {
        var source = ImageDecoder.Decode(VisionTestImages.Read("photo.png"));
        var copy = PillowBicubic.Resize(source, source.Width, source.Height);
        Assert.NotSame(source.Pixels, copy.Pixels);
        Assert.Equal(source.Pixels, copy.Pixels);
    }

    [GeneratedRegex(@"^(?<source>.+)\.pillow-bicubic-(?<w>\d+)x(?<h>\d+)\.png$")]
    private static partial Regex ReferenceName();
}
