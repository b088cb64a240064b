using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace ModelGrid.Hub.Client;

/// <summary>
/// Downloads one file into <c>destination.part</c> and moves it into place once its SHA-256 checks out.
/// A large file is cut into chunks that <see cref="ParallelRanges"/> connections fetch as HTTP ranges, in file
/// order, each written at its offset into the preallocated <c>.part</c> file; how far each chunk got is kept in
/// <c>destination.part.ranges</c>, so an interrupted download resumes every chunk where it stopped. A smaller file
/// is one range, and its <c>.part</c> file is simply the prefix received so far. The hash follows just behind the
/// chunks as they complete in file order, so verification overlaps the download instead of following it.
/// </summary>
public static class FileDownload
{
    /// <summary>Files at least this large are fetched as <see cref="ParallelRanges"/> ranges.</summary>
    public const long ParallelThreshold = 64L << 20;
    /// <summary>Connections fetching chunks of one large file at once.</summary>
    public const int ParallelRanges = 4;
    // Chunks of at least 16 MiB (a request each), at most 512 per file (the range file stays small).
    const long MinChunkSize = 16L << 20;
    const int MaxChunks = 512;
    const int BufferSize = 1 << 20;
    // How often (bytes received) the range file is rewritten: what a crash can cost to download again.
    const long SaveInterval = 32L << 20;

    /// <summary>Sends a GET for <c>bytes=from-(to-1)</c> of the file (no Range header for the whole file); answers with headers read.</summary>
    public delegate Task<HttpResponseMessage> RangeGetter(long from, long to, CancellationToken ct);

    sealed class Range(long start, long end, long done)
    {
        public long Start { get; } = start;
        public long End { get; } = end;
        long _done = done;
        public long Done { get => Volatile.Read(ref _done); set => Volatile.Write(ref _done, value); }
        public long Next => Start + Done;
    }

    sealed record SavedRange(long Start, long End, long Done);

    public static async Task DownloadAsync(RangeGetter get, RemoteFile file, string destination,
        IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(destination))!);
        var partial = destination + ".part";
        var rangeFile = partial + ".ranges";
        var ranges = Plan(file, partial, rangeFile);
        if (ranges.Count > 1 && !File.Exists(rangeFile))
        {
            // The range file first: once the .part file is preallocated its length no longer says what arrived.
            SaveRanges(rangeFile, ranges);
        }
        string? actual;
        try
        {
            using var output = File.OpenHandle(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous);
            if (ranges.Count > 1)
                RandomAccess.SetLength(output, file.Size);
            actual = await TransferAsync(get, file, output, ranges, rangeFile, progress, ct);
        }
        catch (RangeIgnoredException) when (ranges.Count > 1 || ranges[0].Done > 0)
        {
            // The server sends whole files only: start over as one stream.
            File.Delete(rangeFile);
            File.Delete(partial);
            ranges = [new Range(0, file.Size, 0)];
            using var output = File.OpenHandle(partial, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous);
            actual = await TransferAsync(get, file, output, ranges, rangeFile, progress, ct);
        }
        File.Delete(rangeFile);
        if (file.Sha256 is not null && actual != file.Sha256)
        {
            File.Delete(partial);
            throw new IOException($"{file.Path}: SHA-256 {actual} does not match the hub's {file.Sha256}; the downloaded file was removed");
        }
        File.Move(partial, destination, overwrite: true);
    }

    static List<Range> Plan(RemoteFile file, string partial, string rangeFile)
    {
        if (File.Exists(rangeFile) && File.Exists(partial) && ReadRanges(rangeFile, file.Size) is { } saved)
            return saved;
        File.Delete(rangeFile);
        var prefix = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        if (prefix > file.Size)
        {
            File.Delete(partial);
            prefix = 0;
        }
        if (file.Size < ParallelThreshold)
            return [new Range(0, file.Size, prefix)];
        // A prefix received by a single-stream pull is a finished range; the rest is cut into chunks.
        var ranges = new List<Range>();
        if (prefix > 0)
            ranges.Add(new Range(0, prefix, prefix));
        var chunk = Math.Max(MinChunkSize, (file.Size + MaxChunks - 1) / MaxChunks);
        for (var start = prefix; start < file.Size; start += chunk)
            ranges.Add(new Range(start, Math.Min(file.Size, start + chunk), 0));
        return ranges.Count > 0 ? ranges : [new Range(0, file.Size, prefix)];
    }

    static List<Range>? ReadRanges(string rangeFile, long size)
    {
        try
        {
            var saved = JsonSerializer.Deserialize<List<SavedRange>>(File.ReadAllText(rangeFile));
            if (saved is null || saved.Count == 0)
                return null;
            // Usable only if the ranges tile [0, size) and each one's progress lies inside it.
            var at = 0L;
            foreach (var r in saved)
            {
                if (r.Start != at || r.End <= r.Start || r.Done < 0 || r.Done > r.End - r.Start)
                    return null;
                at = r.End;
            }
            return at == size ? [.. saved.Select(r => new Range(r.Start, r.End, r.Done))] : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    static void SaveRanges(string rangeFile, List<Range> ranges)
    {
        var temp = rangeFile + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(ranges.Select(r => new SavedRange(r.Start, r.End, r.Done))));
        File.Move(temp, rangeFile, overwrite: true);
    }

    /// <summary>Fetches what the ranges still miss; returns the file's SHA-256 (null when the hub gave none to check).</summary>
    static async Task<string?> TransferAsync(RangeGetter get, RemoteFile file, SafeFileHandle output, List<Range> ranges, string rangeFile,
        IProgress<TransferProgress>? progress, CancellationToken ct)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var arrived = new SemaphoreSlim(0);
        var saveLock = new object();
        void Report() => progress?.Report(new TransferProgress(file.Path, ranges.Sum(r => r.Done), file.Size));
        void Save()
        {
            if (ranges.Count > 1)
            {
                lock (saveLock)
                    SaveRanges(rangeFile, ranges);
            }
        }

        var sinceSave = 0L;
        async ValueTask FetchAsync(Range range, CancellationToken token)
        {
            if (range.Next >= range.End)
                return;
            try
            {
                var wholeFile = range.Next == 0 && range.End == file.Size;
                using var response = await get(range.Next, range.End, token);
                if (!wholeFile && response.StatusCode != HttpStatusCode.PartialContent)
                    throw new RangeIgnoredException();
                await using var body = await response.Content.ReadAsStreamAsync(token);
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                try
                {
                    while (range.Next < range.End)
                    {
                        // Fill the buffer before writing: fewer, larger writes.
                        var want = (int)Math.Min(BufferSize, range.End - range.Next);
                        var filled = 0;
                        int read;
                        while (filled < want && (read = await body.ReadAsync(buffer.AsMemory(filled, want - filled), token)) > 0)
                            filled += read;
                        if (filled == 0)
                            break;
                        await RandomAccess.WriteAsync(output, buffer.AsMemory(0, filled), range.Next, token);
                        range.Done += filled;
                        arrived.Release();
                        Report();
                        if (Interlocked.Add(ref sinceSave, filled) >= SaveInterval)
                        {
                            Interlocked.Exchange(ref sinceSave, 0);
                            Save();
                        }
                        if (filled < want)
                            break;
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
            catch
            {
                Save();
                throw;
            }
            if (range.Next != range.End)
                throw new IOException($"{file.Path}: the connection closed at byte {range.Next} of {file.Size}; run the pull again to resume");
        }

        async Task<string?> HashAsync()
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[BufferSize];
            foreach (var range in ranges)
            {
                for (var at = range.Start; at < range.End;)
                {
                    var available = range.Next;
                    if (at >= available)
                    {
                        await arrived.WaitAsync(failed.Token);
                        continue;
                    }
                    var read = await RandomAccess.ReadAsync(output, buffer.AsMemory(0, (int)Math.Min(buffer.Length, available - at)), at, failed.Token);
                    hash.AppendData(buffer, 0, read);
                    at += read;
                }
            }
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        Report();
        // Without a hash from the hub there is nothing to check (a small file the Hub keeps in git, not LFS).
        var hashing = file.Sha256 is null ? Task.FromResult<string?>(null) : HashAsync();
        try
        {
            // In file order, as connections free up: the chunks complete roughly in order, just ahead of the hash.
            await Parallel.ForEachAsync(ranges, new ParallelOptions { MaxDegreeOfParallelism = ParallelRanges, CancellationToken = failed.Token }, FetchAsync);
        }
        catch
        {
            await failed.CancelAsync();
            await Task.WhenAny(hashing);  // let it stop; its cancellation is not the error
            throw;
        }
        return await hashing;
    }

    /// <summary>A range request answered with the whole file (200): the server does not do ranges.</summary>
    sealed class RangeIgnoredException() : Exception("The server ignored the Range header");
}
