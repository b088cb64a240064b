using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace ModelGrid.Engine.Compute;

/// <summary>
/// Short-vector primitives for the attention inner loops (head size 64–256), where a library call per row costs more
/// than the arithmetic. Each has a scalar reference (<c>*Scalar</c>) that the tests compare against.
/// </summary>
public static unsafe class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i + 32 <= n; i += 32)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i), Vector512.Load(b + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i + 16 <= n; i += 16)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }

    /// <summary>output += weight · values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAdd(float* output, float* values, float weight, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var w = Vector512.Create(weight);
            for (; i + 16 <= n; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.Load(values + i), w, Vector512.Load(output + i)).Store(output + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(weight);
            for (; i + 8 <= n; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.Load(values + i), w, Vector256.Load(output + i)).Store(output + i);
        }
        for (; i < n; i++)
            output[i] += weight * values[i];
    }

    /// <summary>row = scale · row + weight · values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(float* row, float scale, float* values, float weight, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var s = Vector512.Create(scale);
            var w = Vector512.Create(weight);
            for (; i + 16 <= n; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.Load(values + i), w, Vector512.Load(row + i) * s).Store(row + i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(scale);
            var w = Vector256.Create(weight);
            for (; i + 8 <= n; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.Load(values + i), w, Vector256.Load(row + i) * s).Store(row + i);
        }
        for (; i < n; i++)
            row[i] = row[i] * scale + weight * values[i];
    }

    /// <summary>
    /// output[i] = x · row i, for <paramref name="count"/> rows of n values <paramref name="stride"/> floats apart (the
    /// keys of a cache page): four rows per pass share each load of x.
    /// </summary>
    public static void DotRows(float* x, float* rows, long stride, int count, int n, float* output)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && n % 8 == 0)
        {
            for (; i + 4 <= count; i += 4)
            {
                float* r0 = rows + i * stride, r1 = r0 + stride, r2 = r1 + stride, r3 = r2 + stride;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int k = 0; k < n; k += 8)
                {
                    var v = Vector256.Load(x + k);
                    a0 = Vector256.FusedMultiplyAdd(v, Vector256.Load(r0 + k), a0);
                    a1 = Vector256.FusedMultiplyAdd(v, Vector256.Load(r1 + k), a1);
                    a2 = Vector256.FusedMultiplyAdd(v, Vector256.Load(r2 + k), a2);
                    a3 = Vector256.FusedMultiplyAdd(v, Vector256.Load(r3 + k), a3);
                }
                output[i] = Vector256.Sum(a0);
                output[i + 1] = Vector256.Sum(a1);
                output[i + 2] = Vector256.Sum(a2);
                output[i + 3] = Vector256.Sum(a3);
            }
        }
        for (; i < count; i++)
            output[i] = Dot(x, rows + i * stride, n);
    }

    public static void DotRowsScalar(float* x, float* rows, long stride, int count, int n, float* output)
    {
        for (int i = 0; i < count; i++)
            output[i] = DotScalar(x, rows + i * stride, n);
    }

    /// <summary>
    /// output += Σ weights[j] · row j, for <paramref name="count"/> rows of n values <paramref name="stride"/> floats
    /// apart (the values of a cache page): 64 outputs stay in registers across all rows instead of one load and store
    /// per row.
    /// </summary>
    public static void MultiplyAddRows(float* output, float* rows, long stride, float* weights, int count, int n)
    {
        int k = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; k + 64 <= n; k += 64)
            {
                float* o = output + k;
                Vector256<float> o0 = Vector256.Load(o), o1 = Vector256.Load(o + 8), o2 = Vector256.Load(o + 16), o3 = Vector256.Load(o + 24);
                Vector256<float> o4 = Vector256.Load(o + 32), o5 = Vector256.Load(o + 40), o6 = Vector256.Load(o + 48), o7 = Vector256.Load(o + 56);
                float* row = rows + k;
                for (int j = 0; j < count; j++, row += stride)
                {
                    var w = Vector256.Create(weights[j]);
                    o0 = Vector256.FusedMultiplyAdd(Vector256.Load(row), w, o0);
                    o1 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 8), w, o1);
                    o2 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 16), w, o2);
                    o3 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 24), w, o3);
                    o4 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 32), w, o4);
                    o5 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 40), w, o5);
                    o6 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 48), w, o6);
                    o7 = Vector256.FusedMultiplyAdd(Vector256.Load(row + 56), w, o7);
                }
                o0.Store(o); o1.Store(o + 8); o2.Store(o + 16); o3.Store(o + 24);
                o4.Store(o + 32); o5.Store(o + 40); o6.Store(o + 48); o7.Store(o + 56);
            }
        }
        if (k < n)
            for (int j = 0; j < count; j++)
                MultiplyAdd(output + k, rows + j * stride + k, weights[j], n - k);
    }

    public static void MultiplyAddRowsScalar(float* output, float* rows, long stride, float* weights, int count, int n)
    {
        for (int j = 0; j < count; j++)
            MultiplyAddScalar(output, rows + j * stride, weights[j], n);
    }

    public static void ScaleAddScalar(float* row, float scale, float* values, float weight, int n)
    {
        for (int i = 0; i < n; i++)
            row[i] = row[i] * scale + weight * values[i];
    }

    public static float DotScalar(float* a, float* b, int n)
    {
        float sum = 0;
        for (int i = 0; i < n; i++)
            sum += a[i] * b[i];
        return sum;
    }

    public static void MultiplyAddScalar(float* output, float* values, float weight, int n)
    {
        for (int i = 0; i < n; i++)
            output[i] += weight * values[i];
    }
}
