using System.Buffers;
using System.Security.Cryptography;
using ModelGrid.Hub.Api;
using Microsoft.AspNetCore.Http;

namespace ModelGrid.Hub.Storage;

/// <summary>A stored file's identity: its SHA-256 (lowercase hex) and length in bytes.</summary>
public readonly record struct BlobInfo(string Sha256, long Size);

/// <summary>
/// Content-addressed file store: every file lives once under <c>sha256/ab/cd/abcd…</c>, however many
/// repositories or revisions name it. Writes stream through a temp file in the same directory tree,
/// hashed while written, and become visible only by an atomic rename once the hash checks out, so a
/// crashed or cancelled upload leaves nothing half-visible.
/// </summary>
public sealed class BlobStore
{
    const int CopyBufferSize = 1 << 20;
    readonly string _blobRoot;
    readonly string _tempRoot;

    public BlobStore(string root)
    {
        _blobRoot = Path.Combine(root, "sha256");
        _tempRoot = Path.Combine(root, "tmp");
        Directory.CreateDirectory(_blobRoot);
        Directory.CreateDirectory(_tempRoot);
        // Leftovers of uploads that died with a previous process.
        foreach (var stale in Directory.EnumerateFiles(_tempRoot))
            File.Delete(stale);
    }

    public static bool IsSha256(string? text) =>
        text is { Length: 64 } && text.All(c => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f');

    public string PathOf(string sha256)
    {
        if (!IsSha256(sha256))
            throw new ArgumentException($"'{sha256}' is not a lowercase hex SHA-256", nameof(sha256));
        return Path.Combine(_blobRoot, sha256[..2], sha256[2..4], sha256);
    }

    public bool Exists(string sha256) => File.Exists(PathOf(sha256));

    public BlobInfo? Find(string sha256)
    {
        var file = new FileInfo(PathOf(sha256));
        return file.Exists ? new BlobInfo(sha256, file.Length) : null;
    }

    public FileStream OpenRead(string sha256) =>
        new(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>
    /// Streams <paramref name="source"/> into the store. With <paramref name="expectedSha256"/> or
    /// <paramref name="expectedSize"/> the content must match them exactly (else 400, nothing kept);
    /// more than <paramref name="maxSize"/> bytes is refused with 413.
    /// </summary>
    public async Task<BlobInfo> WriteAsync(Stream source, string? expectedSha256, long? expectedSize, long maxSize, CancellationToken ct)
    {
        if (expectedSize > maxSize)
            throw TooLarge(expectedSize.Value, maxSize);
        var tempPath = Path.Combine(_tempRoot, Guid.NewGuid().ToString("N"));
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            long written = 0;
            string sha;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            await using (var temp = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                int read;
                while ((read = await source.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct)) > 0)
                {
                    written += read;
                    if (written > maxSize)
                        throw TooLarge(written, maxSize);
                    if (written > expectedSize)
                        throw HubException.BadRequest($"Upload is longer than its declared size of {expectedSize} bytes");
                    hash.AppendData(buffer, 0, read);
                    await temp.WriteAsync(buffer.AsMemory(0, read), ct);
                }
                await temp.FlushAsync(ct);
                temp.Flush(flushToDisk: true);
                sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            if (expectedSize is { } size && written != size)
                throw HubException.BadRequest($"Upload is truncated: received {written} of {size} declared bytes");
            if (expectedSha256 is not null && sha != expectedSha256)
                throw HubException.BadRequest($"Upload hash mismatch: declared sha256 {expectedSha256}, content hashes to {sha}");
            var finalPath = PathOf(sha);
            Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
            if (!File.Exists(finalPath))
            {
                try { File.Move(tempPath, finalPath, overwrite: false); }
                catch (IOException) when (File.Exists(finalPath)) { /* the same content won a concurrent race */ }
            }
            return new BlobInfo(sha, written);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            File.Delete(tempPath);
        }
    }

    static HubException TooLarge(long size, long maxSize) =>
        new(StatusCodes.Status413PayloadTooLarge, "PayloadTooLarge", $"File of {size} bytes exceeds the hub's limit of {maxSize} bytes per file");
}
