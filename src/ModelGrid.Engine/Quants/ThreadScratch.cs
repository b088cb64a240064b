using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// Per-thread scratch memory of a kernel (one buffer per <typeparamref name="TOwner"/> and thread), 64-byte aligned
/// and with a cache line of margin on both sides: the buffers of the pool's threads come from the same pinned heap,
/// and a line shared by two of them would bounce between the cores on every write.
/// </summary>
internal static unsafe class ThreadScratch<TOwner>
{
    const int Margin = 64;

    [ThreadStatic] static byte[]? t_buffer;

    /// <summary>At least <paramref name="bytes"/> bytes, valid until this thread asks again.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static byte* Get(int bytes)
    {
        var buffer = t_buffer;
        if (buffer is null || buffer.Length < bytes + 3 * Margin)
            t_buffer = buffer = GC.AllocateUninitializedArray<byte>(bytes + 3 * Margin, pinned: true);
        nint start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (byte*)((start + 2 * Margin - 1) & ~(nint)(Margin - 1));
    }
}
