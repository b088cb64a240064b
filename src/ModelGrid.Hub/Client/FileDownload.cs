using System.Net;
using System.Runtime.ExceptionServices;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace ModelGrid.Hub.Client;

/// <summary>
/// Downloads one file into <c>destination.part</c> and moves it into place once its SHA-256 checks out.
/// A large file is fetched as several HTTP ranges at once, each written at its offset into the preallocated
/// <c>.part</c> file; how far each range got is kept in <c>destination.part.ranges</c>, so an interrupted
/// download resumes every range where it stopped. A smaller file is one range, and its <c>.part</c> file is
/// simply the prefix received so far. The hash is computed while the ranges arrive, in file order, so
/// verification adds little to the download time.
/// </summary>
public static class FileDownload
{
    /// <summary>Files at least this large are fetched as <see cref="ParallelRanges"/> ranges.</summary>
    public const long ParallelThreshold = 64L << 20;
    public const int ParallelRanges = 4;
    const int BufferSize = 1 << 20;
    // How often (bytes per range) the range file is rewritten: what a crash can cost to download again.
    const long SaveInterval = 16L << 20;

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
        try
        {
            using (var output = File.OpenHandle(partial, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous))
            {
                if (ranges.Count > 1)
                    RandomAccess.SetLength(output, file.Size);
                await TransferAsync(get, file, output, partial, ranges, rangeFile, progress, ct);
            }
        }
        catch (RangeIgnoredException) when (ranges.Count > 1 || ranges[0].Done > 0)
        {
            // The server sends whole files only: start over as one stream.
            File.Delete(rangeFile);
            File.Delete(partial);
            ranges = [new Range(0, file.Size, 0)];
            using var output = File.OpenHandle(partial, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous);
            await TransferAsync(get, file, output, partial, ranges, rangeFile, progress, ct);
        }
        File.Delete(rangeFile);
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
        // A prefix received by a single-stream pull is a finished range; the rest is split.
        var ranges = new List<Range>();
        if (prefix > 0)
            ranges.Add(new Range(0, prefix, prefix));
        var step = (file.Size - prefix) / ParallelRanges;
        for (var i = 0; i < ParallelRanges; i++)
        {
            var start = prefix + i * step;
            var end = i == ParallelRanges - 1 ? file.Size : start + step;
            if (end > start)
                ranges.Add(new Range(start, end, 0));
        }
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

    static async Task TransferAsync(RangeGetter get, RemoteFile file, SafeFileHandle output, string partial, List<Range> ranges, string rangeFile,
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

        async Task FetchAsync(Range range)
        {
            if (range.Next >= range.End)
                return;
            var sinceSave = 0L;
            try
            {
                var wholeFile = range.Next == 0 && range.End == file.Size;
                using var response = await get(range.Next, range.End, failed.Token);
                if (!wholeFile && response.StatusCode != HttpStatusCode.PartialContent)
                    throw new RangeIgnoredException();
                await using var body = await response.Content.ReadAsStreamAsync(failed.Token);
                var buffer = new byte[BufferSize];
                while (range.Next < range.End)
                {
                    // Fill the buffer before writing: fewer, larger writes.
                    var want = (int)Math.Min(buffer.Length, range.End - range.Next);
                    var filled = 0;
                    int read;
                    while (filled < want && (read = await body.ReadAsync(buffer.AsMemory(filled, want - filled), failed.Token)) > 0)
                        filled += read;
                    if (filled == 0)
                        break;
                    await RandomAccess.WriteAsync(output, buffer.AsMemory(0, filled), range.Next, failed.Token);
                    range.Done += filled;
                    arrived.Release();
                    Report();
                    if ((sinceSave += filled) >= SaveInterval)
                    {
                        Save();
                        sinceSave = 0;
                    }
                    if (filled < want)
                        break;
                }
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
            finally
            {
                Save();
            }
            if (range.Next != range.End)
                throw new IOException($"{file.Path}: the connection closed at byte {range.Next} of {file.Size}; run the pull again to resume");
        }

        async Task<string> HashAsync()
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
        var hashing = HashAsync();
        var fetches = ranges.Select(FetchAsync).ToArray();
        try
        {
            await Task.WhenAll(fetches);
        }
        catch
        {
            await failed.CancelAsync();
            await Task.WhenAny(hashing);  // let it stop; its cancellation is not the error
            // The range that failed first cancelled the others: report its error, not their cancellations.
            var cause = fetches.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException!).FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null)
                ExceptionDispatchInfo.Throw(cause);
            throw;
        }
        var actual = await hashing;
        if (file.Sha256 is not null && actual != file.Sha256)
        {
            File.Delete(rangeFile);
            File.Delete(partial);
            throw new IOException($"{file.Path}: SHA-256 {actual} does not match the hub's {file.Sha256}; the downloaded file was removed");
        }
    }

    /// <summary>A range request answered with the whole file (200): the server does not do ranges.</summary>
    sealed class RangeIgnoredException() : Exception("The server ignored the Range header");
}
