using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// Dense kernels for small row-major matrices that stay in cache (the chunked delta rule's C×C and C×d blocks), where a
/// register-blocked loop does several multiply-adds per load instead of one. Each SIMD path has a scalar reference
/// (<c>*Scalar</c>) that the tests compare against.
/// </summary>
public static unsafe class SmallMatrix
{
    /// <summary>
    /// c += a·b for a (m×k), b (k×n) and c (m×n), row-major with row strides <paramref name="lda"/>,
    /// <paramref name="ldb"/>, <paramref name="ldc"/>. With <paramref name="lowerTriangularA"/> the caller promises that a
    /// is zero above its diagonal, and the all-zero tail of each block of rows is skipped.
    /// </summary>
    public static void MultiplyAdd(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc,
        int m, int k, int n, bool lowerTriangularA = false)
    {
        CheckShapes(a.Length, lda, b.Length, ldb, c.Length, ldc, m, k, n);
        if (m == 0 || n == 0 || k == 0)
            return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (!Vector256.IsHardwareAccelerated)
            {
                MultiplyAddCore(pa, lda, pb, ldb, pc, ldc, m, k, n);
                return;
            }
            // Column panels outside, rows inside: a panel of b (k × 16) stays in L1 while every row of a passes over it.
            int j = 0;
            // Two rows (a decoding step's queries of one KV head) take panels of 32 columns: eight accumulators again,
            // and each row of b read in whole cache lines.
            for (; m == 2 && !lowerTriangularA && j + 32 <= n; j += 32)
                Block2x32(pa, lda, pb + j, ldb, pc + j, ldc, k);
            for (; j + 16 <= n; j += 16)
                Panel(pa, lda, pb + j, ldb, pc + j, ldc, m, k, lowerTriangularA, wide: true);
            for (; j + 8 <= n; j += 8)
                Panel(pa, lda, pb + j, ldb, pc + j, ldc, m, k, lowerTriangularA, wide: false);
            if (j < n)
                for (int i = 0; i < m; i++)
                    MultiplyAddCore(pa + (long)i * lda, lda, pb + j, ldb, pc + (long)i * ldc + j, ldc, 1, lowerTriangularA ? Math.Min(k, i + 1) : k, n - j);
        }
    }

    static void Panel(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int k, bool lowerTriangularA, bool wide)
    {
        int i = 0;
        for (; i + 4 <= m; i += 4)
        {
            int depth = lowerTriangularA ? Math.Min(k, i + 4) : k;
            if (wide)
                Block4x16(a + (long)i * lda, lda, b, ldb, c + (long)i * ldc, ldc, depth);
            else
                Block4x8(a + (long)i * lda, lda, b, ldb, c + (long)i * ldc, ldc, depth);
        }
        for (; i < m; i++)
        {
            int depth = lowerTriangularA ? Math.Min(k, i + 1) : k;
            if (wide)
                Row16(a + (long)i * lda, b, ldb, c + (long)i * ldc, depth);
            else
                Row8(a + (long)i * lda, b, ldb, c + (long)i * ldc, depth);
        }
    }

    public static void MultiplyAddScalar(ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, int m, int k, int n)
    {
        CheckShapes(a.Length, lda, b.Length, ldb, c.Length, ldc, m, k, n);
        fixed (float* pa = a, pb = b, pc = c)
            MultiplyAddCore(pa, lda, pb, ldb, pc, ldc, m, k, n);
    }

    static void MultiplyAddCore(float* a, int lda, float* b, int ldb, float* c, int ldc, int m, int k, int n)
    {
        for (int i = 0; i < m; i++)
            for (int p = 0; p < k; p++)
            {
                float weight = a[(long)i * lda + p];
                for (int j = 0; j < n; j++)
                    c[(long)i * ldc + j] += weight * b[(long)p * ldb + j];
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x16(float* a, int lda, float* b, int ldb, float* c, int ldc, int depth)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        float* a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        for (int p = 0; p < depth; p++, b += ldb)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var w = Vector256.Create(a[p]);
            c00 = Vector256.FusedMultiplyAdd(w, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(w, b1, c01);
            w = Vector256.Create(a1[p]);
            c10 = Vector256.FusedMultiplyAdd(w, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(w, b1, c11);
            w = Vector256.Create(a2[p]);
            c20 = Vector256.FusedMultiplyAdd(w, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(w, b1, c21);
            w = Vector256.Create(a3[p]);
            c30 = Vector256.FusedMultiplyAdd(w, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(w, b1, c31);
        }
        Accumulate(c, c00, c01);
        Accumulate(c + ldc, c10, c11);
        Accumulate(c + 2 * ldc, c20, c21);
        Accumulate(c + 3 * ldc, c30, c31);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x8(float* a, int lda, float* b, int ldb, float* c, int ldc, int depth)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        float* a1 = a + lda, a2 = a1 + lda, a3 = a2 + lda;
        for (int p = 0; p < depth; p++, b += ldb)
        {
            var b0 = Vector256.Load(b);
            c0 = Vector256.FusedMultiplyAdd(Vector256.Create(a[p]), b0, c0);
            c1 = Vector256.FusedMultiplyAdd(Vector256.Create(a1[p]), b0, c1);
            c2 = Vector256.FusedMultiplyAdd(Vector256.Create(a2[p]), b0, c2);
            c3 = Vector256.FusedMultiplyAdd(Vector256.Create(a3[p]), b0, c3);
        }
        (Vector256.Load(c) + c0).Store(c);
        (Vector256.Load(c + ldc) + c1).Store(c + ldc);
        (Vector256.Load(c + 2 * ldc) + c2).Store(c + 2 * ldc);
        (Vector256.Load(c + 3 * ldc) + c3).Store(c + 3 * ldc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block2x32(float* a, int lda, float* b, int ldb, float* c, int ldc, int depth)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        float* a1 = a + lda;
        for (int p = 0; p < depth; p++, b += ldb)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var b2 = Vector256.Load(b + 16);
            var b3 = Vector256.Load(b + 24);
            var w = Vector256.Create(a[p]);
            c00 = Vector256.FusedMultiplyAdd(w, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(w, b1, c01);
            c02 = Vector256.FusedMultiplyAdd(w, b2, c02);
            c03 = Vector256.FusedMultiplyAdd(w, b3, c03);
            w = Vector256.Create(a1[p]);
            c10 = Vector256.FusedMultiplyAdd(w, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(w, b1, c11);
            c12 = Vector256.FusedMultiplyAdd(w, b2, c12);
            c13 = Vector256.FusedMultiplyAdd(w, b3, c13);
        }
        Accumulate(c, c00, c01);
        Accumulate(c + 16, c02, c03);
        Accumulate(c + ldc, c10, c11);
        Accumulate(c + ldc + 16, c12, c13);
    }

    /// <summary>One row of c past the last block of four rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Row16(float* a, float* b, int ldb, float* c, int depth)
    {
        Vector256<float> low = default, high = default;
        for (int p = 0; p < depth; p++, b += ldb)
        {
            var w = Vector256.Create(a[p]);
            low = Vector256.FusedMultiplyAdd(w, Vector256.Load(b), low);
            high = Vector256.FusedMultiplyAdd(w, Vector256.Load(b + 8), high);
        }
        Accumulate(c, low, high);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Row8(float* a, float* b, int ldb, float* c, int depth)
    {
        Vector256<float> sum = default;
        for (int p = 0; p < depth; p++, b += ldb)
            sum = Vector256.FusedMultiplyAdd(Vector256.Create(a[p]), Vector256.Load(b), sum);
        (Vector256.Load(c) + sum).Store(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Accumulate(float* c, Vector256<float> low, Vector256<float> high)
    {
        (Vector256.Load(c) + low).Store(c);
        (Vector256.Load(c + 8) + high).Store(c + 8);
    }

    /// <summary>
    /// t = (I − a)⁻¹ for a strictly lower triangular a (n×n, row stride <paramref name="ld"/>; only the entries below
    /// the diagonal are read), by forward substitution: row i of t is eᵢ + Σ_{m&lt;i} a[i][m]·t[m], and row m of t is
    /// zero after column m. All of t is written, zeros above its unit diagonal.
    /// </summary>
    public static void InvertUnitLowerTriangular(ReadOnlySpan<float> a, Span<float> t, int n, int ld)
    {
        CheckSquare(a.Length, t.Length, n, ld);
        fixed (float* pa = a, pt = t)
            for (int i = 0; i < n; i++)
            {
                float* row = pt + (long)i * ld;
                new Span<float>(row, n).Clear();
                row[i] = 1;
                for (int m = 0; m < i; m++)
                    VectorMath.MultiplyAdd(row, pt + (long)m * ld, pa[(long)i * ld + m], m + 1);
            }
    }

    public static void InvertUnitLowerTriangularScalar(ReadOnlySpan<float> a, Span<float> t, int n, int ld)
    {
        CheckSquare(a.Length, t.Length, n, ld);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = i == j ? 1 : 0;
                for (int m = j; m < i; m++)
                    sum += a[i * ld + m] * t[m * ld + j];
                t[i * ld + j] = sum;
            }
    }

    /// <summary>destination (columns × rows, row stride rows) = sourceᵀ for source (rows × columns, row stride <paramref name="ld"/>).</summary>
    public static void Transpose(ReadOnlySpan<float> source, int ld, Span<float> destination, int rows, int columns)
    {
        CheckShape(source.Length, rows, columns, ld, nameof(source));
        CheckShape(destination.Length, columns, rows, rows, nameof(destination));
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < columns; j++)
                destination[j * rows + i] = source[i * ld + j];
    }

    static void CheckShapes(int aLength, int lda, int bLength, int ldb, int cLength, int ldc, int m, int k, int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        CheckShape(aLength, m, k, lda, "a");
        CheckShape(bLength, k, n, ldb, "b");
        CheckShape(cLength, m, n, ldc, "c");
    }

    static void CheckSquare(int aLength, int tLength, int n, int ld)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        CheckShape(aLength, n, n, ld, "a");
        CheckShape(tLength, n, n, ld, "t");
    }

    static void CheckShape(int length, int rows, int columns, int stride, string name)
    {
        if (rows == 0 || columns == 0)
            return;
        if (stride < columns)
            throw new ArgumentException($"{name}: row stride {stride} is shorter than its {columns} columns", name);
        if (length < (long)(rows - 1) * stride + columns)
            throw new ArgumentException($"{name} holds {length} values; {rows} rows of {columns} at stride {stride} need {(long)(rows - 1) * stride + columns}", name);
    }
}
