using System.Buffers.Binary;
using StbImageSharp;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// Decodes PNG and JPEG files to 8-bit RGB in managed code (stb_image, as llama.cpp's mtmd uses). Grey images are
/// widened and alpha is dropped, as stb_image does when asked for three channels. The dimensions in the header
/// are checked against a pixel budget before any pixel memory is allocated, so a small file that declares a huge
/// image (a decompression bomb) is refused cheaply.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Pillow's decompression-bomb error threshold (2 × <c>Image.MAX_IMAGE_PIXELS</c>): about 179 megapixels, 537 MB as RGB.</summary>
    public const long DefaultMaxPixels = 2 * 89_478_485L;

    public static RgbImage Decode(ReadOnlySpan<byte> file, long maxPixels = DefaultMaxPixels)
    {
        if (file.IsEmpty)
            throw new ImageFormatException("image file is empty (0 bytes)");
        string format = Identify(file);
        if (format is not ("PNG" or "JPEG"))
            throw new ImageFormatException($"unsupported image format: {format} (PNG and JPEG are supported)");

        var (width, height) = format == "PNG" ? PngDimensions(file) : JpegDimensions(file);
        if (width <= 0 || height <= 0)
            throw new ImageFormatException($"{format} image has zero size ({width}x{height} in its header)");
        long pixels = (long)width * height;
        if (pixels > maxPixels)
            throw new ImageFormatException(
                $"{format} image is {width}x{height} = {pixels} pixels, over the limit of {maxPixels} pixels; refused before decoding");

        byte[] bytes = file.ToArray();
        ImageResult result;
        try
        {
            result = ImageResult.FromMemory(bytes, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (IsDecoderFailure(e))
        {
            string reason = e.Message.Trim();
            throw new ImageFormatException($"corrupt or truncated {format} image ({width}x{height}, {file.Length} bytes)"
                + (reason.Length > 0 && reason.All(c => c >= ' ' && c < 127) ? $": {reason}" : ""));
        }
        if (result.Width != width || result.Height != height || result.Data.LongLength != 3 * pixels)
            throw new ImageFormatException($"corrupt {format} image: header says {width}x{height}, decoder produced {result.Width}x{result.Height}");
        return new RgbImage(result.Width, result.Height, result.Data);
    }

    /// <summary>The format a file's signature names, or a description of the first bytes when none is recognized.</summary>
    public static string Identify(ReadOnlySpan<byte> file)
    {
        if (file.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]))
            return "PNG";
        if (file.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]))
            return "JPEG";
        if (file.StartsWith("GIF87a"u8) || file.StartsWith("GIF89a"u8))
            return "GIF";
        if (file.Length >= 12 && file.StartsWith("RIFF"u8) && file[8..12].SequenceEqual("WEBP"u8))
            return "WebP";
        if (file.StartsWith("BM"u8))
            return "BMP";
        if (file.StartsWith("II*\0"u8) || file.StartsWith("MM\0*"u8))
            return "TIFF";
        if (file.Length >= 12 && file[4..8].SequenceEqual("ftyp"u8))
            return $"ISO media ({System.Text.Encoding.ASCII.GetString(file[8..12])})";
        return $"unrecognized (first bytes {Convert.ToHexString(file[..Math.Min(8, file.Length)])})";
    }

    // stb_image is a C port: it reports bad data with exceptions of these kinds rather than one of its own.
    static bool IsDecoderFailure(Exception e) =>
        e is InvalidOperationException or IndexOutOfRangeException or ArgumentException or OverflowException or NullReferenceException;

    /// <summary>Width and height from a PNG's IHDR chunk, which must come first.</summary>
    static (int Width, int Height) PngDimensions(ReadOnlySpan<byte> file)
    {
        if (file.Length < 33 || !file[12..16].SequenceEqual("IHDR"u8) || BinaryPrimitives.ReadUInt32BigEndian(file[8..12]) != 13)
            throw new ImageFormatException($"corrupt PNG image: no IHDR header chunk ({file.Length} bytes)");
        uint width = BinaryPrimitives.ReadUInt32BigEndian(file[16..20]), height = BinaryPrimitives.ReadUInt32BigEndian(file[20..24]);
        if (width > int.MaxValue || height > int.MaxValue)
            throw new ImageFormatException($"corrupt PNG image: header size {width}x{height} is out of range");
        return ((int)width, (int)height);
    }

    /// <summary>
    /// Width and height from a JPEG's frame header, after walking every marker segment to the end-of-image marker.
    /// stb_image decodes a cut-off JPEG without complaint (it pads the missing entropy-coded data with zeros), so
    /// truncation has to be found here. Thumbnails inside APPn segments are skipped by segment length, so their own
    /// frame and end markers do not count.
    /// </summary>
    static (int Width, int Height) JpegDimensions(ReadOnlySpan<byte> file)
    {
        (int Width, int Height)? size = null;
        int position = 2;
        while (position + 1 < file.Length)
        {
            if (file[position] != 0xFF)
                throw new ImageFormatException($"corrupt JPEG image: expected a marker at byte {position}, found 0x{file[position]:X2}");
            byte marker = file[position + 1];
            if (marker == 0xFF)
            {
                position++;
                continue;
            }
            if (marker == 0xD9)
                return size ?? throw new ImageFormatException("corrupt JPEG image: no frame header (SOF) before the end-of-image marker");
            if (marker is 0x01 or (>= 0xD0 and <= 0xD7))
            {
                position += 2;
                continue;
            }
            if (position + 3 >= file.Length)
                break;
            int length = (file[position + 2] << 8) | file[position + 3];
            if (length < 2)
                throw new ImageFormatException($"corrupt JPEG image: marker 0xFF{marker:X2} at byte {position} has an impossible length {length}");
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC): precision, then height and width.
            if (marker is >= 0xC0 and <= 0xCF and not (0xC4 or 0xC8 or 0xCC) && size is null)
            {
                if (length < 7 || position + 8 >= file.Length)
                    break;
                size = ((file[position + 7] << 8) | file[position + 8], (file[position + 5] << 8) | file[position + 6]);
            }
            position += 2 + length;
            if (marker != 0xDA)
                continue;
            if (size is null)
                throw new ImageFormatException("corrupt JPEG image: a scan starts before the frame header (SOF)");
            // Entropy-coded data follows a scan header; inside it 0xFF is stuffed as FF 00, and FF D0..D7 are restarts.
            while (position + 1 < file.Length && !(file[position] == 0xFF && file[position + 1] is not (0x00 or (>= 0xD0 and <= 0xD7))))
                position++;
        }
        throw new ImageFormatException($"truncated JPEG image: the data ends ({file.Length} bytes) before the end-of-image marker");
    }
}
