using System.Runtime.InteropServices;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// A 64-byte-aligned unmanaged array: activations and scratch live here so kernels can take raw pointers
/// without pinning and the GC never moves or scans them. Grows on demand (keeping its contents), never shrinks.
/// </summary>
public sealed unsafe class NativeBuffer<T> : IDisposable where T : unmanaged
{
    public T* Pointer { get; private set; }
    public long Length { get; private set; }

    public NativeBuffer(long length = 0) => EnsureCapacity(length);

    public Span<T> Span => new(Pointer, checked((int)Length));

    public Span<T> Slice(long start, int length) =>
        start >= 0 && start + length <= Length ? new(Pointer + start, length) : throw new ArgumentOutOfRangeException(nameof(start));

    public void EnsureCapacity(long length)
    {
        if (length <= Length)
            return;
        Pointer = (T*)NativeMemory.AlignedRealloc(Pointer, (nuint)(length * sizeof(T)), 64);
        Length = length;
    }

    public void Dispose()
    {
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
        Length = 0;
    }
}
