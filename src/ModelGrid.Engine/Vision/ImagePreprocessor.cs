using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Fits an image to a Qwen-VL tower's patch grid as llama.cpp's mtmd does (<c>mtmd_image_preprocessor_dyn_size</c>):
/// a target size in multiples of patch × merge within [<see cref="MinPixels"/>, <see cref="MaxPixels"/>] ("smart
/// resize", in float32 as there), the image resized into it keeping its aspect ratio with Pillow's bicubic and pasted
/// centred on black, then normalized per channel. (Hugging Face's processor instead stretches to the target size.)
/// </summary>
public sealed record ImagePreprocessor(int PatchSize, int MergeSize, long MinPixels, long MaxPixels, float[] Mean, float[] Std)
{
    /// <summary>Largest decoded image accepted, in pixels; checked from the file header before decoding.</summary>
    public long MaxDecodedPixels { get; init; } = ImageDecoder.DefaultMaxPixels;

    /// <summary>Every side is a multiple of this: one merged token covers Alignment × Alignment pixels.</summary>
    public int Alignment => PatchSize * MergeSize;

    /// <summary>
    /// From a vision projector's metadata (<c>clip.vision.*</c>). Without <c>image_min_pixels</c> /
    /// <c>image_max_pixels</c> the token budget is llama.cpp's for Qwen-VL projectors: 8 to 4096 merged tokens.
    /// </summary>
    public static ImagePreprocessor FromMetadata(GgufMetadata metadata)
    {
        int patch = (int)metadata.GetInteger("clip.vision.patch_size");
        int merge = (int)(metadata.TryGetInteger("clip.vision.spatial_merge_size") ?? 2);
        long tokenPixels = (long)patch * merge * patch * merge;
        float[] mean = metadata.TryGetFloatArray("clip.vision.image_mean") ?? throw Missing(metadata, "clip.vision.image_mean");
        float[] std = metadata.TryGetFloatArray("clip.vision.image_std") ?? throw Missing(metadata, "clip.vision.image_std");
        if (mean.Length != 3 || std.Length != 3 || std.Any(s => !(s > 0)))
            throw new ModelFormatException($"{metadata.Source}: clip.vision.image_mean / image_std must be 3 values each, std positive");
        if (patch <= 0 || merge <= 0)
            throw new ModelFormatException($"{metadata.Source}: patch size {patch} and spatial merge {merge} must be positive");
        long min = metadata.TryGetInteger("clip.vision.image_min_pixels") ?? 8 * tokenPixels;
        long max = metadata.TryGetInteger("clip.vision.image_max_pixels") ?? 4096 * tokenPixels;
        if (min <= 0 || max < min)
            throw new ModelFormatException($"{metadata.Source}: image pixel budget [{min}, {max}] is empty");
        return new ImagePreprocessor(patch, merge, min, max, mean, std);
    }

    static ModelFormatException Missing(GgufMetadata metadata, string key) => new($"{metadata.Source}: metadata '{key}' is missing");

    /// <summary>Decodes a PNG or JPEG file and preprocesses it; bad files raise <see cref="ImageFormatException"/>.</summary>
    public PreprocessedImage Preprocess(ReadOnlySpan<byte> file) => Preprocess(ImageDecoder.Decode(file, MaxDecodedPixels));

    public PreprocessedImage Preprocess(RgbImage image)
    {
        var (width, height) = TargetSize(image.Width, image.Height);
        var canvas = image;
        if (width != image.Width || height != image.Height)
        {
            // Fit inside the target keeping the aspect ratio (rounding up, capped), then pad to it with black.
            float scale = MathF.Min((float)width / image.Width, (float)height / image.Height);
            int fittedWidth = Math.Min((int)MathF.Ceiling(image.Width * scale), width);
            int fittedHeight = Math.Min((int)MathF.Ceiling(image.Height * scale), height);
            canvas = RgbImage.Black(width, height);
            canvas.Paste(PillowBicubic.Resize(image, fittedWidth, fittedHeight), (width - fittedWidth) / 2, (height - fittedHeight) / 2);
        }
        return new PreprocessedImage(image.Width, image.Height, canvas, Normalize(canvas), PatchSize, MergeSize);
    }

    /// <summary>The canvas size for an image of this size: both sides multiples of <see cref="Alignment"/>, area within the budget.</summary>
    public (int Width, int Height) TargetSize(int width, int height)
    {
        int align = Alignment;
        int RoundBy(float x) => (int)MathF.Round(x / align, MidpointRounding.AwayFromZero) * align;
        int CeilBy(float x) => (int)MathF.Ceiling(x / align) * align;
        int FloorBy(float x) => (int)MathF.Floor(x / align) * align;

        int w = Math.Max(align, RoundBy(width)), h = Math.Max(align, RoundBy(height));
        if ((long)w * h > MaxPixels)
        {
            float beta = MathF.Sqrt((float)height * width / MaxPixels);
            h = Math.Max(align, FloorBy(height / beta));
            w = Math.Max(align, FloorBy(width / beta));
        }
        else if ((long)w * h < MinPixels)
        {
            float beta = MathF.Sqrt(MinPixels / ((float)height * width));
            h = CeilBy(height * beta);
            w = CeilBy(width * beta);
        }
        return (w, h);
    }

    float[] Normalize(RgbImage image)
    {
        int plane = image.Width * image.Height;
        var pixels = new float[3L * plane];
        var source = image.Pixels;
        for (int c = 0; c < 3; c++)
        {
            float mean = Mean[c], std = Std[c];
            var target = pixels.AsSpan(c * plane, plane);
            for (int i = 0; i < plane; i++)
                target[i] = (source[3 * i + c] / 255f - mean) / std;
        }
        return pixels;
    }
}
