using System.Buffers.Binary;
using ModelGrid.Engine.Quants;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>
/// Blocks packed here from chosen quants and scales, following the layout definitions in ggml-common.h,
/// must decode to the values the format's formula gives for those quants and scales.
/// </summary>
public class BlockFormatTests
{
    const float D = 0.125f, DMin = 0.0625f, M = -1.5f; // exact in fp16

    static void AssertDecodes(GgmlType type, byte[] block, Func<int, float> expected)
    {
        Assert.Equal(GgmlTypeInfo.BlockBytes(type), block.Length);
        int n = GgmlTypeInfo.BlockSize(type);
        var twoBlocks = block.Concat(block).ToArray();
        var actual = new float[2 * n];
        RowKernels.For(type).Dequantize(twoBlocks, actual);
        for (int i = 0; i < 2 * n; i++)
            Assert.True(MathF.Abs(actual[i] - expected(i % n)) <= 1e-6f, $"{type} value {i}: decoded {actual[i]}, formula gives {expected(i % n)}");
    }

    static void WriteHalf(byte[] block, int offset, float value) => BinaryPrimitives.WriteHalfLittleEndian(block.AsSpan(offset), (Half)value);

    /// <summary>32 quants → 16 bytes: quant j in the low nibble of byte j, quant j+16 in its high nibble.</summary>
    static void PackNibbles(byte[] block, int offset, Func<int, int> quant)
    {
        for (int j = 0; j < 16; j++)
            block[offset + j] = (byte)((quant(j) & 0x0F) | (quant(j + 16) & 0x0F) << 4);
    }

    static uint FifthBits(Func<int, int> quant)
    {
        uint bits = 0;
        for (int j = 0; j < 32; j++)
            bits |= (uint)((quant(j) >> 4) & 1) << j;
        return bits;
    }

    [Fact]
    public void Q8_0_is_d_times_signed_byte()
    {
        static int Quant(int j) => j * 8 - 128;
        var block = new byte[34];
        WriteHalf(block, 0, D);
        for (int j = 0; j < 32; j++)
            block[2 + j] = (byte)(sbyte)Quant(j);
        AssertDecodes(GgmlType.Q8_0, block, j => D * Quant(j));
    }

    [Fact]
    public void Q4_0_is_d_times_nibble_minus_8()
    {
        static int Quant(int j) => (j * 5 + 3) % 16;
        var block = new byte[18];
        WriteHalf(block, 0, D);
        PackNibbles(block, 2, Quant);
        AssertDecodes(GgmlType.Q4_0, block, j => D * (Quant(j) - 8));
    }

    [Fact]
    public void Q4_1_is_d_times_nibble_plus_m()
    {
        static int Quant(int j) => (j * 7 + 1) % 16;
        var block = new byte[20];
        WriteHalf(block, 0, D);
        WriteHalf(block, 2, M);
        PackNibbles(block, 4, Quant);
        AssertDecodes(GgmlType.Q4_1, block, j => D * Quant(j) + M);
    }

    [Fact]
    public void Q5_0_is_d_times_five_bits_minus_16()
    {
        static int Quant(int j) => (j * 13 + 5) % 32;
        var block = new byte[22];
        WriteHalf(block, 0, D);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(2), FifthBits(Quant));
        PackNibbles(block, 6, Quant);
        AssertDecodes(GgmlType.Q5_0, block, j => D * (Quant(j) - 16));
    }

    [Fact]
    public void Q5_1_is_d_times_five_bits_plus_m()
    {
        static int Quant(int j) => (j * 11 + 2) % 32;
        var block = new byte[24];
        WriteHalf(block, 0, D);
        WriteHalf(block, 2, M);
        BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), FifthBits(Quant));
        PackNibbles(block, 8, Quant);
        AssertDecodes(GgmlType.Q5_1, block, j => D * Quant(j) + M);
    }

    /// <summary>Value i = 128n + 32j + l of a Q2_K/Q3_K super-block lives in bits 2j..2j+1 of qs byte 32n + l.</summary>
    static void PackTwoBitPlanes(byte[] block, int offset, Func<int, int> lowBits)
    {
        for (int i = 0; i < 256; i++)
        {
            int n = i / 128, j = i % 128 / 32, l = i % 32;
            block[offset + 32 * n + l] |= (byte)((lowBits(i) & 3) << (2 * j));
        }
    }

    [Fact]
    public void Q2_K_is_d_scale_times_quant_minus_dmin_min_per_16_values()
    {
        static int Scale(int s) => (s * 3 + 1) % 16;
        static int Min(int s) => 15 - s;
        static int Quant(int i) => (i * 5 + i / 7) % 4;
        var block = new byte[84];
        for (int s = 0; s < 16; s++)
            block[s] = (byte)(Scale(s) | Min(s) << 4);
        PackTwoBitPlanes(block, 16, Quant);
        WriteHalf(block, 80, D);
        WriteHalf(block, 82, DMin);
        AssertDecodes(GgmlType.Q2_K, block, i => D * Scale(i / 16) * Quant(i) - DMin * Min(i / 16));
    }

    [Fact]
    public void Q3_K_is_d_times_signed_6_bit_scale_times_3_bit_quant()
    {
        static int Scale(int s) => s * 4 - 32 + s % 3; // -32..31
        static int Quant(int i) => (i * 3 + i / 5) % 8 - 4; // -4..3
        var block = new byte[110];
        for (int i = 0; i < 256; i++)
        {
            int n = i / 128, j = i % 128 / 32, l = i % 32;
            if (Quant(i) >= 0)
                block[l] |= (byte)(1 << (4 * n + j)); // high bit set means "do not subtract 4"
        }
        PackTwoBitPlanes(block, 32, i => Quant(i) + 4);
        for (int s = 0; s < 16; s++)
        {
            int stored = Scale(s) + 32;
            block[96 + s % 8] |= (byte)((stored & 0x0F) << (s < 8 ? 0 : 4));
            block[96 + 8 + s % 4] |= (byte)((stored >> 4) << (2 * (s / 4)));
        }
        WriteHalf(block, 108, D);
        AssertDecodes(GgmlType.Q3_K, block, i => D * Scale(i / 16) * Quant(i));
    }

    /// <summary>Eight 6-bit scales and mins in 12 bytes, as Q4_K and Q5_K store them.</summary>
    static void PackScalesAndMins(byte[] block, int offset, Func<int, int> scale, Func<int, int> min)
    {
        for (int g = 0; g < 8; g++)
        {
            if (g < 4)
            {
                block[offset + g] |= (byte)scale(g);
                block[offset + g + 4] |= (byte)min(g);
            }
            else
            {
                block[offset + g + 4] = (byte)((scale(g) & 0x0F) | (min(g) & 0x0F) << 4);
                block[offset + g - 4] |= (byte)((scale(g) >> 4) << 6);
                block[offset + g] |= (byte)((min(g) >> 4) << 6);
            }
        }
    }

    static int KScale(int g) => 10 + 7 * g;
    static int KMin(int g) => 63 - 5 * g;

    /// <summary>Value i = 64c + 32h + l is nibble h (0 low, 1 high) of qs byte 32c + l.</summary>
    static void PackNibblePlanes(byte[] block, int offset, Func<int, int> quant)
    {
        for (int i = 0; i < 256; i++)
            block[offset + 32 * (i / 64) + i % 32] |= (byte)((quant(i) & 0x0F) << (4 * (i % 64 / 32)));
    }

    [Fact]
    public void Q4_K_is_d_scale_times_nibble_minus_dmin_min_per_32_values()
    {
        static int Quant(int i) => (i * 11 + i / 9) % 16;
        var block = new byte[144];
        WriteHalf(block, 0, D);
        WriteHalf(block, 2, DMin);
        PackScalesAndMins(block, 4, KScale, KMin);
        PackNibblePlanes(block, 16, Quant);
        AssertDecodes(GgmlType.Q4_K, block, i => D * KScale(i / 32) * Quant(i) - DMin * KMin(i / 32));
    }

    [Fact]
    public void Q5_K_is_d_scale_times_5_bit_quant_minus_dmin_min_per_32_values()
    {
        static int Quant(int i) => (i * 13 + i / 7) % 32;
        var block = new byte[176];
        WriteHalf(block, 0, D);
        WriteHalf(block, 2, DMin);
        PackScalesAndMins(block, 4, KScale, KMin);
        for (int i = 0; i < 256; i++)
            block[16 + i % 32] |= (byte)((Quant(i) >> 4) << (i / 32));
        PackNibblePlanes(block, 48, Quant);
        AssertDecodes(GgmlType.Q5_K, block, i => D * KScale(i / 32) * Quant(i) - DMin * KMin(i / 32));
    }

    [Fact]
    public void Q6_K_is_d_times_signed_scale_times_6_bit_quant_minus_32()
    {
        static int Scale(int s) => s * 15 - 110;
        static int Quant(int i) => (i * 7 + i / 11) % 64;
        var block = new byte[210];
        for (int i = 0; i < 256; i++)
        {
            int n = i / 128, k = i % 128 / 32, l = i % 32;
            block[64 * n + 32 * (k & 1) + l] |= (byte)((Quant(i) & 0x0F) << (4 * (k >> 1)));
            block[128 + 32 * n + l] |= (byte)((Quant(i) >> 4) << (2 * k));
        }
        for (int s = 0; s < 16; s++)
            block[192 + s] = (byte)(sbyte)Scale(s);
        WriteHalf(block, 208, D);
        AssertDecodes(GgmlType.Q6_K, block, i => D * Scale(i / 16) * (Quant(i) - 32));
    }

    [Fact]
    public void F16_and_BF16_widen_exactly_including_subnormals_and_infinities()
    {
        ushort[] halves = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0x7C00, 0xFC00];
        var row = halves.SelectMany(BitConverter.GetBytes).ToArray();
        var decoded = new float[halves.Length];
        RowKernels.For(GgmlType.F16).Dequantize(row, decoded);
        Assert.Equal(halves.Select(h => (float)BitConverter.UInt16BitsToHalf(h)), decoded);

        RowKernels.For(GgmlType.BF16).Dequantize(row, decoded);
        Assert.Equal(halves.Select(h => BitConverter.UInt32BitsToSingle((uint)h << 16)), decoded);
    }
}
