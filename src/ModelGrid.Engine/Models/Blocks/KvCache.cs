using System.Runtime.InteropServices;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>
/// One attention layer's keys and values for one sequence, f32, in fixed-size pages of <see cref="PagePositions"/>
/// positions. Pages are added as the sequence grows (nothing is copied) and come from, and go back to,
/// <see cref="KvPagePool"/>, so the memory of finished sequences serves the next ones. Value pages hold one row per
/// position; key pages are stored transposed, one row of <see cref="PagePositions"/> positions per channel, so that a
/// head's q·Kᵀ over a page is a plain matrix product reading contiguous memory (row-major keys had to be transposed
/// for every block of queries, and a decoding step read each position's head slice 4 KiB apart).
/// </summary>
public sealed unsafe class KvCache(int keyWidth, int valueWidth, int contextLength) : IDisposable
{
    public const int PagePositions = 64;
    const int PageShift = 6;
    const int PageMask = PagePositions - 1;

    readonly nint[] _keyPages = new nint[(contextLength + PageMask) >> PageShift];
    readonly nint[] _valuePages = new nint[(contextLength + PageMask) >> PageShift];
    int _pages;

    /// <summary>The key page holding <paramref name="position"/>: channel c's positions are the row at c·<see cref="PagePositions"/>.</summary>
    public float* KeyPage(int position) => (float*)_keyPages[position >> PageShift];

    public void StoreKey(int position, ReadOnlySpan<float> key)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(key.Length, keyWidth);
        float* column = KeyPage(position) + (position & PageMask);
        for (int c = 0; c < key.Length; c++)
            column[c * PagePositions] = key[c];
    }

    public float* Value(int position) => (float*)_valuePages[position >> PageShift] + (long)(position & PageMask) * valueWidth;

    public void EnsurePosition(int position)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(position, contextLength);
        while (_pages <= position >> PageShift)
        {
            _keyPages[_pages] = KvPagePool.Rent(keyWidth);
            _valuePages[_pages] = KvPagePool.Rent(valueWidth);
            _pages++;
        }
    }

    /// <summary>An independent cache holding copies of the first <paramref name="positions"/> keys and values.</summary>
    public KvCache Copy(int positions)
    {
        var copy = new KvCache(keyWidth, valueWidth, contextLength);
        if (positions == 0)
            return copy;
        copy.EnsurePosition(positions - 1);
        // A transposed key page holds a partial page's positions in every channel row: copied whole.
        long keyBytes = (long)PagePositions * keyWidth * sizeof(float);
        for (int page = 0; page <= (positions - 1) >> PageShift; page++)
        {
            long rows = Math.Min(PagePositions, positions - ((long)page << PageShift));
            Buffer.MemoryCopy((void*)_keyPages[page], (void*)copy._keyPages[page], keyBytes, keyBytes);
            Buffer.MemoryCopy((void*)_valuePages[page], (void*)copy._valuePages[page], rows * valueWidth * sizeof(float), rows * valueWidth * sizeof(float));
        }
        return copy;
    }

    public long Bytes => (long)_pages * PagePositions * (keyWidth + valueWidth) * sizeof(float);

    public void Dispose()
    {
        for (int i = 0; i < _pages; i++)
        {
            KvPagePool.Return(_keyPages[i], keyWidth);
            KvPagePool.Return(_valuePages[i], valueWidth);
            _keyPages[i] = _valuePages[i] = 0;
        }
        _pages = 0;
    }
}

/// <summary>
/// Process-wide free lists of KV pages (<see cref="KvCache.PagePositions"/> rows of one width). Returned pages are kept
/// for reuse up to <see cref="MaxFreeBytes"/>; beyond that they are freed. Thread-safe.
/// </summary>
public static unsafe class KvPagePool
{
    static readonly Dictionary<int, Stack<nint>> Free = [];
    static long _bytesInUse, _bytesFree;

    /// <summary>Bytes of free pages kept for reuse at most.</summary>
    public static long MaxFreeBytes { get; set; } = 256L << 20;

    /// <summary>Bytes of pages held by live caches.</summary>
    public static long BytesInUse => Interlocked.Read(ref _bytesInUse);

    /// <summary>Bytes of returned pages kept for reuse.</summary>
    public static long BytesFree => Interlocked.Read(ref _bytesFree);

    static long PageBytes(int width) => (long)KvCache.PagePositions * width * sizeof(float);

    internal static nint Rent(int width)
    {
        long bytes = PageBytes(width);
        nint page = 0;
        lock (Free)
            if (Free.TryGetValue(width, out var pages) && pages.Count > 0)
            {
                page = pages.Pop();
                _bytesFree -= bytes;
            }
        if (page == 0)
            page = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        Interlocked.Add(ref _bytesInUse, bytes);
        return page;
    }

    internal static void Return(nint page, int width)
    {
        long bytes = PageBytes(width);
        Interlocked.Add(ref _bytesInUse, -bytes);
        lock (Free)
            if (_bytesFree + bytes <= MaxFreeBytes)
            {
                if (!Free.TryGetValue(width, out var pages))
                    Free[width] = pages = new Stack<nint>();
                pages.Push(page);
                _bytesFree += bytes;
                return;
            }
        NativeMemory.AlignedFree((void*)page);
    }
}
