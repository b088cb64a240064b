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
