namespace ModelGrid.Engine.Tensors;

static class MappedFiles
{
    /// <summary>
    /// The size of the file a path leads to. Hugging Face cache snapshots are symbolic links to blobs, and
    /// <see cref="FileInfo.Length"/> would give the link's own size.
    /// </summary>
    public static long Length(string path)
    {
        using var handle = File.OpenHandle(path);
        return RandomAccess.GetLength(handle);
    }
}
