using ModelGrid.Engine.Quants;

namespace ModelGrid.Engine.Tests.Quants;

/// <summary>A theory that runs only where the CPU has <paramref name="path"/>; elsewhere it is reported as skipped, with the reason.</summary>
public sealed class SimdPathTheoryAttribute : TheoryAttribute
{
    public SimdPathTheoryAttribute(KernelPath path)
    {
        if (!KernelPaths.IsSupported(path))
            Skip = $"this CPU lacks {path}: that kernel path is not exercised on this machine";
    }
}

/// <summary>A fact that runs only where the CPU has <paramref name="path"/>; elsewhere it is reported as skipped, with the reason.</summary>
public sealed class SimdPathFactAttribute : FactAttribute
{
    public SimdPathFactAttribute(KernelPath path)
    {
        if (!KernelPaths.IsSupported(path))
            Skip = $"this CPU lacks {path}: that kernel path is not exercised on this machine";
    }
}
