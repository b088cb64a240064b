using System.Runtime.CompilerServices;
using System.Text;

namespace ModelGrid.Engine.Gguf;

/// <summary>
/// Bounds-checked sequential reads over the header bytes of a mapped GGUF file. Every length read from the file
/// is checked against the bytes that remain before anything is allocated, so a corrupt count cannot ask for more
/// memory than the file could describe.
/// </summary>
unsafe struct GgufReader(byte* start, long length, string fileName)
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public long Position { get; private set; }

    public readonly long Remaining => length - Position;

    public GgufFormatException Error(string problem) => new($"{fileName}: {problem} (at offset {Position})");

    byte* Take(long count, string what)
    {
        if (count < 0 || count > Remaining)
            throw Error($"{what} needs {count} bytes but only {Remaining} remain; the file is truncated or corrupt");
        byte* p = start + Position;
        Position += count;
        return p;
    }

    public T Read<T>(string what) where T : unmanaged => Unsafe.ReadUnaligned<T>(Take(sizeof(T), what));

    public ulong ReadCount(string what, int minimumBytesPerItem)
    {
        ulong count = Read<ulong>(what);
        if (count > (ulong)(Remaining / Math.Max(1, minimumBytesPerItem)))
            throw Error($"{what} is {count}, more than the {Remaining} remaining bytes can hold");
        return count;
    }

    public string ReadString(string what)
    {
        ulong count = Read<ulong>(what + " length");
        if (count > (ulong)Remaining)
            throw Error($"{what} claims {count} bytes but only {Remaining} remain");
        byte* p = Take((long)count, what);
        try
        {
            return StrictUtf8.GetString(p, (int)count);
        }
        catch (DecoderFallbackException)
        {
            throw Error($"{what} is not valid UTF-8");
        }
    }

    public void AlignTo(int alignment)
    {
        long aligned = (Position + alignment - 1) / alignment * alignment;
        Position = Math.Min(aligned, length);
    }
}
