using System.Buffers.Binary;
using System.Text;

namespace ModelGrid.Engine.Tests.Vision;

/// <summary>The small images of Vision/Data (see its README.md) and hand-built file headers for the bad-image cases.</summary>
public static class VisionTestImages
{
    public static string Dir { get; } = Path.Combine(Golden.RepoRoot(), "tests", "ModelGrid.Engine.Tests", "Vision", "Data");

    public static byte[] Read(string name) => File.ReadAllBytes(Path.Combine(Dir, name));

    /// <summary>A PNG with a valid signature and IHDR (8-bit RGB) declaring the given size, then one IDAT and IEND.</summary>
    public static byte[] PngWithHeader(uint width, uint height, byte[] imageData)
    {
        var file = new MemoryStream();
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(header, width);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = 2;
        WriteChunk(file, "IHDR", header);
        WriteChunk(file, "IDAT", imageData);
        WriteChunk(file, "IEND", []);
        return file.ToArray();
    }

    /// <summary>A JPEG whose baseline frame header declares the given size (three components), with no scan data.</summary>
    public static byte[] JpegWithFrameHeader(ushort width, ushort height)
    {
        byte[] file = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 3,
            1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 0xFF, 0xD9];
        return file;
    }

    static void WriteChunk(Stream file, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, (uint)data.Length);
        file.Write(word);
        byte[] typeAndData = [.. Encoding.ASCII.GetBytes(type), .. data];
        file.Write(typeAndData);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typeAndData));
        file.Write(word);
    }

    /// <summary>The CRC-32 of PNG chunks (ISO 3309, reflected polynomial 0xEDB88320).</summary>
    static uint Crc32(ReadOnlySpan<byte> bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in bytes)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
        }
        return ~crc;
    }
}
