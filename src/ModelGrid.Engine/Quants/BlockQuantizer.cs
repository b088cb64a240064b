using System.Buffers.Binary;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quants;

/// <summary>
/// float → ggml blocks, following ggml-quants.c's <c>quantize_row_*_ref</c> step for step (same
/// rounding functions, same fp16 rounding of scales), so the bytes match ggml's.
/// </summary>
public static class BlockQuantizer
{
    public static bool Supports(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.Q4_0
        or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        if (!Supports(type))
            throw new NotSupportedException($"no quantizer for tensor type {type} ({(uint)type})");
        long bytes = GgmlTypeInfo.RowBytes(type, source.Length);
        if (destination.Length != bytes)
            throw new ArgumentException($"{source.Length} values quantize to {bytes} bytes of {type}, destination has {destination.Length}", nameof(destination));

        int blockSize = GgmlTypeInfo.BlockSize(type), blockBytes = GgmlTypeInfo.BlockBytes(type);
        for (int b = 0; b < source.Length / blockSize; b++)
        {
            var values = source.Slice(b * blockSize, blockSize);
            var block = destination.Slice(b * blockBytes, blockBytes);
            switch (type)
            {
                case GgmlType.Q8_0: Q8_0(values, block); break;
                case GgmlType.Q8_1: Q8_1(values, block); break;
                case GgmlType.Q8_K: Q8_K(values, block); break;
                case GgmlType.Q4_0: Q4_0(values, block); break;
                case GgmlType.Q4_1: Q4_1(values, block); break;
                case GgmlType.Q5_0: Q5_0(values, block); break;
                case GgmlType.Q5_1: Q5_1(values, block); break;
                case GgmlType.Q4_K: Q4_K(values, block); break;
                case GgmlType.Q5_K: Q5_K(values, block); break;
                case GgmlType.Q6_K: Q6_K(values, block); break;
            }
        }
    }

    // Layout: fp16 d, int8 qs[32]; d = max|x| / 127, q = roundf(x / d) (half away from zero).
    static void Q8_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = MaxMagnitude(x) / 127;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        for (int j = 0; j < x.Length; j++)
            block[2 + j] = (byte)(sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
    }

    // Layout: fp16 d, fp16 s = d·Σq, int8 qs[32].
    static void Q8_1(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = MaxMagnitude(x) / 127;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < x.Length; j++)
        {
            var q = (sbyte)MathF.Round(x[j] * inverse, MidpointRounding.AwayFromZero);
            block[4 + j] = (byte)q;
            sum += q;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromSingle(sum * d));
    }

    // Layout: f32 d, int8 qs[256], int16 bsums[16] (sums of each 16 quants). The scale is signed:
    // the value of largest magnitude maps to -127, and rounding is nearest_int (half to even).
    static void Q8_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
        {
            float magnitude = MathF.Abs(v);
            if (magnitude > amax)
            {
                amax = magnitude;
                max = v;
            }
        }
        var quants = block.Slice(4, 256);
        var sums = block.Slice(260, 32);
        if (amax == 0)
        {
            block.Clear();
            return;
        }
        float inverse = -127f / max;
        for (int j = 0; j < x.Length; j++)
            quants[j] = (byte)(sbyte)Math.Min(127, (int)MathF.Round(inverse * x[j]));
        for (int g = 0; g < 16; g++)
        {
            int sum = 0;
            for (int j = 0; j < 16; j++)
                sum += (sbyte)quants[g * 16 + j];
            BinaryPrimitives.WriteInt16LittleEndian(sums[(2 * g)..], (short)sum);
        }
        BinaryPrimitives.WriteSingleLittleEndian(block, 1 / inverse);
    }

    // Layout: fp16 d, qs[16] (element j in the low nibble of byte j, element j+16 in its high nibble);
    // d = (signed value of largest magnitude) / -8, so that value maps to quant 0.
    static void Q4_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = SignedExtreme(x) / -8;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        for (int j = 0; j < 16; j++)
        {
            int low = Math.Min(15, (int)(sbyte)(x[j] * inverse + 8.5f));
            int high = Math.Min(15, (int)(sbyte)(x[j + 16] * inverse + 8.5f));
            block[2 + j] = (byte)(low | high << 4);
        }
    }

    // Layout: fp16 d, fp16 m (the block minimum), qs[16] nibbles as in Q4_0; d = (max - min) / 15, q = (int8)((x - min)/d + 0.5).
    static void Q4_1(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (min, max) = MinMax(x);
        float d = (max - min) / 15;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromSingle(min));
        for (int j = 0; j < 16; j++)
        {
            int low = Math.Min(15, (int)(sbyte)((x[j] - min) * inverse + 0.5f));
            int high = Math.Min(15, (int)(sbyte)((x[j + 16] - min) * inverse + 0.5f));
            block[4 + j] = (byte)(low | high << 4);
        }
    }

    // Layout: fp16 d, uint32 qh (bit j = fifth bit of element j), qs[16] low nibbles; d = (signed extreme) / -16.
    static void Q5_0(ReadOnlySpan<float> x, Span<byte> block)
    {
        float d = SignedExtreme(x) / -16;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        uint high = 0;
        for (int j = 0; j < 16; j++)
        {
            int first = Math.Min(31, (int)(sbyte)(x[j] * inverse + 16.5f));
            int second = Math.Min(31, (int)(sbyte)(x[j + 16] * inverse + 16.5f));
            block[6 + j] = (byte)((first & 0x0F) | (second & 0x0F) << 4);
            high |= (uint)(first >> 4) << j | (uint)(second >> 4) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[2..], high);
    }

    // Layout: fp16 d, fp16 m, uint32 qh, qs[16]; d = (max - min) / 31 (ggml does not clamp the 5-bit quant here).
    static void Q5_1(ReadOnlySpan<float> x, Span<byte> block)
    {
        var (min, max) = MinMax(x);
        float d = (max - min) / 31;
        float inverse = d != 0 ? 1.0f / d : 0.0f;
        BinaryPrimitives.WriteUInt16LittleEndian(block, Fp16.FromSingle(d));
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], Fp16.FromSingle(min));
        uint high = 0;
        for (int j = 0; j < 16; j++)
        {
            int first = (byte)((x[j] - min) * inverse + 0.5f);
            int second = (byte)((x[j + 16] - min) * inverse + 0.5f);
            block[8 + j] = (byte)((first & 0x0F) | (second & 0x0F) << 4);
            high |= (uint)(first >> 4 & 1) << j | (uint)(second >> 4 & 1) << (j + 16);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(block[4..], high);
    }

    // Layout: fp16 d, fp16 dmin, scales[12] (eight 6-bit scale/min pairs), qs[128] (4-bit quants, 64 values per 32 bytes).
    static void Q4_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> levels = stackalloc byte[256];
        ScaleMinSuperBlock(x, block, levels, maxLevel: 15, rmin: -1f, steps: 20);
        var quants = block.Slice(16, 128);
        for (int j = 0; j < 256; j += 64)
            for (int l = 0; l < 32; l++)
                quants[j / 2 + l] = (byte)(levels[j + l] | levels[j + l + 32] << 4);
    }

    // Layout: fp16 d, fp16 dmin, scales[12], qh[32] (fifth bits, two per 64-value group), qs[128] low nibbles.
    static void Q5_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<byte> levels = stackalloc byte[256];
        ScaleMinSuperBlock(x, block, levels, maxLevel: 31, rmin: -0.5f, steps: 15);
        var high = block.Slice(16, 32);
        var low = block.Slice(48, 128);
        high.Clear();
        for (int n = 0, group = 0; n < 256; n += 64, group++)
            for (int j = 0; j < 32; j++)
            {
                int first = levels[n + j], second = levels[n + j + 32];
                high[j] |= (byte)((first >> 4) << (2 * group) | (second >> 4) << (2 * group + 1));
                low[n / 2 + j] = (byte)((first & 0x0F) | (second & 0x0F) << 4);
            }
    }

    /// <summary>
    /// The part Q4_K and Q5_K share (ggml's quantize_row_q4_K_ref / q5_K_ref): per 32 values an asymmetric scale and min
    /// fitted by <see cref="FitScaleAndMin"/>, both rounded to 6 bits against the super-block's fp16 d and dmin, then the
    /// values re-quantized against the rounded scales. Writes d, dmin and the packed scales; leaves the levels to the caller.
    /// </summary>
    static void ScaleMinSuperBlock(ReadOnlySpan<float> x, Span<byte> block, Span<byte> levels, int maxLevel, float rmin, int steps)
    {
        Span<float> scales = stackalloc float[8], mins = stackalloc float[8], weights = stackalloc float[32];
        Span<byte> trial = stackalloc byte[32];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var group = x.Slice(32 * j, 32);
            float sumSquares = 0;
            foreach (float v in group)
                sumSquares += v * v;
            float average = MathF.Sqrt(sumSquares / 32);
            for (int l = 0; l < 32; l++)
                weights[l] = average + MathF.Abs(group[l]);
            scales[j] = FitScaleAndMin(group, weights, maxLevel, levels.Slice(32 * j, 32), out mins[j], trial, rmin, 0.1f, steps);
            if (scales[j] > maxScale)
                maxScale = scales[j];
            if (mins[j] > maxMin)
                maxMin = mins[j];
        }

        float inverseScale = maxScale > 0 ? 63f / maxScale : 0f;
        float inverseMin = maxMin > 0 ? 63f / maxMin : 0f;
        var packed = block.Slice(4, 12);
        packed.Clear();
        for (int j = 0; j < 8; j++)
        {
            byte scale = Math.Min((byte)63, (byte)NearestInt(inverseScale * scales[j]));
            byte min = Math.Min((byte)63, (byte)NearestInt(inverseMin * mins[j]));
            if (j < 4)
            {
                packed[j] = scale;
                packed[j + 4] = min;
            }
            else
            {
                packed[j + 4] = (byte)((scale & 0xF) | (min & 0xF) << 4);
                packed[j - 4] |= (byte)(scale >> 4 << 6);
                packed[j] |= (byte)(min >> 4 << 6);
            }
        }
        ushort dBits = Fp16.FromSingle(maxScale / 63f), dminBits = Fp16.FromSingle(maxMin / 63f);
        BinaryPrimitives.WriteUInt16LittleEndian(block, dBits);
        BinaryPrimitives.WriteUInt16LittleEndian(block[2..], dminBits);

        float superScale = Fp16.ToSingle(dBits), superMin = Fp16.ToSingle(dminBits);
        for (int j = 0; j < 8; j++)
        {
            var (scale, min) = UnpackScaleMin(packed, j);
            float d = superScale * scale;
            if (d == 0)
                continue;
            float dm = superMin * min;
            for (int i = 0; i < 32; i++)
                levels[32 * j + i] = (byte)Math.Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, maxLevel);
        }
    }

    // ggml's get_scale_min_k4: pairs 0..3 sit in the low 6 bits of bytes 0..7, pairs 4..7 split over nibbles and top bits.
    static (int Scale, int Min) UnpackScaleMin(ReadOnlySpan<byte> packed, int j) => j < 4
        ? (packed[j] & 63, packed[j + 4] & 63)
        : ((packed[j + 4] & 0xF) | (packed[j - 4] >> 6) << 4, (packed[j + 4] >> 4) | (packed[j] >> 6) << 4);

    /// <summary>
    /// ggml's make_qkx2_quants: the scale and (non-positive) offset minimizing the weighted squared error of
    /// x ≈ scale·L + min with L in [0, maxLevel], searched over <paramref name="steps"/> + 1 candidate scales around
    /// the range. Returns the scale; <paramref name="negatedMin"/> is -min. The float operations keep ggml's order.
    /// </summary>
    static float FitScaleAndMin(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int maxLevel, Span<byte> levels, out float negatedMin,
        Span<byte> trial, float rmin, float rdelta, int steps)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0)
            min = 0;
        if (max == min)
        {
            levels.Clear();
            negatedMin = -min;
            return 0f;
        }
        float iscale = maxLevel / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, maxLevel);
            levels[i] = (byte)l;
            float diff = scale * l + min - x[i];
            bestError += weights[i] * (diff * diff);
        }
        for (int step = 0; step <= steps; step++)
        {
            iscale = (rmin + rdelta * step + maxLevel) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, maxLevel);
                trial[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float determinant = sumW * sumL2 - sumL * sumL;
            if (!(determinant > 0))
                continue;
            float thisScale = (sumW * sumXL - sumX * sumL) / determinant;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / determinant;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                float diff = thisScale * trial[i] + thisMin - x[i];
                error += weights[i] * (diff * diff);
            }
            if (error < bestError)
            {
                trial[..n].CopyTo(levels);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
        negatedMin = -min;
        return scale;
    }

    // Layout: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (one per 16 values), fp16 d at the end.
    static void Q6_K(ReadOnlySpan<float> x, Span<byte> block)
    {
        Span<sbyte> levels = stackalloc sbyte[256];
        Span<float> scales = stackalloc float[16];
        float maxScale = 0, maxAbsScale = 0;
        for (int group = 0; group < 16; group++)
        {
            float scale = FitSymmetricScale(x.Slice(16 * group, 16), 32, levels.Slice(16 * group, 16));
            scales[group] = scale;
            if (MathF.Abs(scale) > maxAbsScale)
            {
                maxAbsScale = MathF.Abs(scale);
                maxScale = scale;
            }
        }
        if (maxAbsScale < GroupMaxEpsilon)
        {
            block.Clear();
            return;
        }

        float iscale = -128f / maxScale;
        ushort dBits = Fp16.FromSingle(1 / iscale);
        BinaryPrimitives.WriteUInt16LittleEndian(block[208..], dBits);
        var blockScales = block.Slice(192, 16);
        for (int group = 0; group < 16; group++)
            blockScales[group] = (byte)(sbyte)Math.Min(127, NearestInt(iscale * scales[group]));

        float superScale = Fp16.ToSingle(dBits);
        for (int group = 0; group < 16; group++)
        {
            float d = superScale * (sbyte)blockScales[group];
            if (d == 0)
                continue;
            for (int i = 0; i < 16; i++)
                levels[16 * group + i] = (sbyte)(Math.Clamp(NearestInt(x[16 * group + i] / d), -32, 31) + 32);
        }

        var low = block[..128];
        var high = block.Slice(128, 64);
        for (int j = 0, half = 0; j < 256; j += 128, half++)
            for (int l = 0; l < 32; l++)
            {
                int q1 = levels[j + l], q2 = levels[j + l + 32], q3 = levels[j + l + 64], q4 = levels[j + l + 96];
                low[64 * half + l] = (byte)((q1 & 0xF) | (q3 & 0xF) << 4);
                low[64 * half + l + 32] = (byte)((q2 & 0xF) | (q4 & 0xF) << 4);
                high[32 * half + l] = (byte)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
            }
    }

    /// <summary>
    /// ggml's make_qx_quants with rmse_type 1 and no importance weights: a signed scale for L in [-nmax, nmax) chosen
    /// among 19 candidates by the x²-weighted least-squares fit. Stores L + nmax in <paramref name="levels"/>.
    /// </summary>
    static float FitSymmetricScale(ReadOnlySpan<float> x, int nmax, Span<sbyte> levels)
    {
        float max = SignedExtreme(x);
        if (MathF.Abs(max) < GroupMaxEpsilon)
        {
            levels.Clear();
            return 0f;
        }
        float iscale = -nmax / max;
        float sumLX = 0, sumL2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)(l + nmax);
            float w = x[i] * x[i];
            sumLX += w * x[i] * l;
            sumL2 += w * l * l;
        }
        float scale = sumL2 != 0 ? sumLX / sumL2 : 0.0f;
        float best = scale * sumLX;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0)
                continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumLX = sumL2 = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumLX += w * x[i] * l;
                sumL2 += w * l * l;
            }
            if (sumL2 > 0 && sumLX * sumLX > best * sumL2)
            {
                for (int i = 0; i < x.Length; i++)
                    levels[i] = (sbyte)(nmax + Math.Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumLX / sumL2;
                best = scale * sumLX;
            }
        }
        return scale;
    }

    // ggml's GROUP_MAX_EPS: a group whose largest magnitude is below it counts as all zeros.
    const float GroupMaxEpsilon = 1e-15f;

    // ggml's nearest_int adds 1.5·2^23 and reads the mantissa: round half to even, as MathF.Round does.
    static int NearestInt(float value) => (int)MathF.Round(value);

    // The value of largest magnitude, with its sign (the first one wins a tie, as in ggml).
    static float SignedExtreme(ReadOnlySpan<float> x)
    {
        float max = 0, amax = 0;
        foreach (float v in x)
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        return max;
    }

    static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }

    static float MaxMagnitude(ReadOnlySpan<float> x)
    {
        float amax = 0;
        foreach (float v in x)
            amax = MathF.Max(amax, MathF.Abs(v));
        return amax;
    }
}
