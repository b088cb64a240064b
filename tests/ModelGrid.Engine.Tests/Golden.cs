namespace ModelGrid.Engine.Tests;

/// <summary>Where the golden reference data lives: $MODELGRID_GOLDEN_DIR, else ../shared/golden beside the repository.</summary>
public static class Golden
{
    public static string Dir { get; } = Locate();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Dir, .. parts]);

    static string Locate()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("MODELGRID_GOLDEN_DIR");
        if (!string.IsNullOrEmpty(fromEnv))
            return System.IO.Path.GetFullPath(fromEnv);
        string repoRoot = RepoRoot();
        return System.IO.Path.GetFullPath(System.IO.Path.Combine(repoRoot, "..", "shared", "golden"));
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "ModelGrid.slnx")))
                return dir.FullName;
        throw new InvalidOperationException("cannot find the repository root (ModelGrid.slnx) above " + AppContext.BaseDirectory);
    }
}
