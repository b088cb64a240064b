using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelGrid.Engine.Quants;

/// <summary>The instruction sets a row kernel can be compiled for; every kernel has a <see cref="Scalar"/> reference.</summary>
public enum KernelPath
{
    Scalar,
    /// <summary>256-bit AVX2 + FMA: <c>vpmaddubsw</c>/<c>vpmaddwd</c> integer dots.</summary>
    Avx2,
    /// <summary>256-bit AVX-VNNI: <c>vpdpbusd</c>/<c>vpdpwssd</c> fuse the multiply-add-accumulate steps.</summary>
    AvxVnni,
    /// <summary>512-bit AVX-512 F/BW (<c>vpmaddubsw</c>/<c>vpmaddwd</c> on 64 bytes).</summary>
    Avx512,
}

public static class KernelPaths
{
    public static bool IsSupported(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Avx2 => Avx2.IsSupported && Fma.IsSupported,
        KernelPath.AvxVnni => Avx2.IsSupported && Fma.IsSupported && AvxVnni.IsSupported,
        KernelPath.Avx512 => Avx512F.IsSupported && Avx512BW.IsSupported && Vector512.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>The first of <paramref name="fastestFirst"/> that this CPU runs.</summary>
    public static KernelPath Best(IEnumerable<KernelPath> fastestFirst) => fastestFirst.First(IsSupported);
}
