using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace ModelGrid.Hub.Client;

/// <summary>
/// Downloads one file into <c>destination.part</c> and moves it into place once its SHA-256 checks out.
/// A large file is cut into chunks, each written at its offset into the preallocated <c>.part</c> file; how far each
/// chunk got is kept in <c>destination.part.ranges</c>, so an interrupted download resumes every chunk where it
/// stopped. One connection streams the chunks in file order; more connections (up to <see cref="MaxConnections"/>)
/// are added one at a time only while each raises the rate (a slow or throttled network), since on a fast link they
/// only compete for the CPU. A smaller file is one range, and its <c>.part</c> file is simply the prefix received so
/// far. The hash is computed while the data arrives: from the received buffers when they come in file order, else by
/// reading the file just behind the chunks that completed.
/// </summary>
public static class FileDownload
{
    /// <summary>Files at least this large are cut into chunks that can be resumed and fetched in parallel.</summary>
    public const long ParallelThreshold = 64L << 20;
    /// <summary>Most connections fetching chunks of one file at once.</summary>
    public const int MaxConnections = 4;
    // Chunks of at least 16 MiB, at most 512 per file (the range file stays small).
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

    /// <param name="connections">Connections fetching chunks at once; null starts with one and adds more while they pay off.</param>
    public static async Task DownloadAsync(RangeGetter get, RemoteFile file, string destination,
        IProgress<TransferProgress>? progress, int? connections, CancellationToken ct)
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
            actual = await new Transfer(get, file, output, ranges, rangeFile, progress, connections).RunAsync(ct);
        }
        catch (RangeIgnoredException) when (ranges.Count > 1 || ranges[0].Done > 0)
        {
            // The server sends whole files only: start over as one stream.
            File.Delete(rangeFile);
            File.Delete(partial);
            ranges = [new Range(0, file.Size, 0)];
            using var output = File.OpenHandle(partial, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read, FileOptions.Asynchronous);
            actual = await new Transfer(get, file, output, ranges, rangeFile, progress, 1).RunAsync(ct);
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

    /// <summary>Fetches what the ranges still miss into the file, with as many connections as pay off.</summary>
    sealed class Transfer(RangeGetter get, RemoteFile file, SafeFileHandle output, List<Range> ranges, string rangeFile,
        IProgress<TransferProgress>? progress, int? connections)
    {
        // A connection is added after a window this long, and kept if the window after it moved this much more.
        static readonly TimeSpan ProbeWindow = TimeSpan.FromMilliseconds(250);
        const double WorthwhileGain = 1.25;
        // A probe costs a window and can only shorten what is left: not worth it when the rest takes fewer windows.
        const int ProbeWorthWindows = 4;

        readonly Lock _saveLock = new();
        readonly OrderedHash? _hash = file.Sha256 is null ? null : new OrderedHash(output, ranges);
        readonly List<Task> _connections = [];
        readonly TaskCompletionSource _allClaimed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _lastClaimed = -1;
        int _allowedConnections = Math.Clamp(connections ?? 1, 1, ranges.Count);
        int _retireOne;
        long _sinceSave;

        long Received => ranges.Sum(r => r.Done);

        /// <summary>Returns the file's SHA-256 (null when the hub gave none to check).</summary>
        public async Task<string?> RunAsync(CancellationToken ct)
        {
            using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Report();
            var hashing = _hash is null ? Task.FromResult<string?>(null) : _hash.RunAsync(file.Size, failed.Token);
            try
            {
                for (var i = 0; i < _allowedConnections; i++)
                    _connections.Add(ConnectionAsync(failed));
                if (connections is null && ranges.Count > 1)
                    await GrowAsync(failed);
                await Task.WhenAll(_connections);
            }
            catch
            {
                await failed.CancelAsync();
                // Let them stop; their cancellation is not the error.
                await Task.WhenAll([.. _connections, hashing]).ContinueWith(_ => { }, TaskScheduler.Default);
                throw;
            }
            return await hashing;
        }

        /// <summary>
        /// Adds connections one at a time while each one raised the rate by <see cref="WorthwhileGain"/>, and retires
        /// the last one if it did not. Ends once every chunk has a connection, when the rest of the file will arrive
        /// within a few windows anyway, or when the transfer fails.
        /// </summary>
        async Task GrowAsync(CancellationTokenSource failed)
        {
            double? previousRate = null;
            var clock = Stopwatch.StartNew();
            var before = Received;
            while (_allowedConnections < MaxConnections)
            {
                var window = Task.Delay(ProbeWindow, failed.Token);
                if (await Task.WhenAny(window, _allClaimed.Task) != window || window.IsCanceled)
                    return;
                var received = Received;
                var rate = (received - before) / clock.Elapsed.TotalSeconds;
                if (previousRate is { } previous && rate < previous * WorthwhileGain)
                {
                    Volatile.Write(ref _retireOne, 1);
                    Interlocked.Decrement(ref _allowedConnections);
                    return;
                }
                if ((file.Size - received) / rate < ProbeWorthWindows * ProbeWindow.TotalSeconds)
                    return;
                previousRate = rate;
                before = received;
                clock.Restart();
                Interlocked.Increment(ref _allowedConnections);
                _connections.Add(ConnectionAsync(failed));
            }
        }

        /// <summary>Claims the next chunk in file order; -1 when none is left or this connection is to retire.</summary>
        int Claim()
        {
            if (Interlocked.Exchange(ref _retireOne, 0) == 1)
                return -1;
            var index = Interlocked.Increment(ref _lastClaimed);
            if (index < ranges.Count)
                return index;
            _allClaimed.TrySetResult();
            return -1;
        }

        /// <summary>The chunk right after <paramref name="index"/> if nobody claimed it yet, else <see cref="Claim"/>.</summary>
        int ClaimFollowing(int index) =>
            Volatile.Read(ref _retireOne) == 0 && index + 1 < ranges.Count
            && Interlocked.CompareExchange(ref _lastClaimed, index + 1, index) == index
                ? index + 1
                : Claim();

        async Task ConnectionAsync(CancellationTokenSource failed)
        {
            await Task.Yield();
            try
            {
                for (var index = Claim(); index >= 0;)
                    index = await FetchAsync(index, failed.Token);
            }
            catch
            {
                Save();
                await failed.CancelAsync();
                throw;
            }
        }

        /// <summary>
        /// Fetches chunk <paramref name="index"/>; a connection alone asks for the rest of the file and reads on into
        /// the chunks that follow as long as no other connection claimed them. Returns the next chunk to fetch.
        /// </summary>
        async Task<int> FetchAsync(int index, CancellationToken ct)
        {
            var range = ranges[index];
            if (range.Next >= range.End)
                return Claim();
            var requestEnd = Volatile.Read(ref _allowedConnections) == 1 ? file.Size : range.End;
            using var response = await get(range.Next, requestEnd, ct);
            if ((range.Next > 0 || requestEnd < file.Size) && response.StatusCode != HttpStatusCode.PartialContent)
                throw new RangeIgnoredException();
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            while (true)
            {
                await ReceiveAsync(body, range, ct);
                var next = ClaimFollowing(index);
                if (next < 0 || range.End == requestEnd || ranges[next].Start != range.End || ranges[next].Done != 0)
                    return next;
                index = next;
                range = ranges[index];
            }
        }

        async Task ReceiveAsync(Stream body, Range range, CancellationToken ct)
        {
            while (range.Next < range.End)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
                var handedOver = false;
                try
                {
                    // Fill the buffer before writing: fewer, larger writes.
                    var want = (int)Math.Min(BufferSize, range.End - range.Next);
                    var filled = await body.ReadAtLeastAsync(buffer.AsMemory(0, want), want, throwOnEndOfStream: false, ct);
                    if (filled > 0)
                    {
                        var at = range.Next;
                        await RandomAccess.WriteAsync(output, buffer.AsMemory(0, filled), at, ct);
                        range.Done += filled;
                        handedOver = _hash?.TryHandOver(buffer, at, filled) ?? false;
                        Report();
                        if (Interlocked.Add(ref _sinceSave, filled) >= SaveInterval)
                        {
                            Interlocked.Exchange(ref _sinceSave, 0);
                            Save();
                        }
                    }
                    if (filled < want)
                        throw new IOException($"{file.Path}: the connection closed at byte {range.Next} of {file.Size}; run the pull again to resume");
                }
                finally
                {
                    if (!handedOver)
                        ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }

        void Report() => progress?.Report(new TransferProgress(file.Path, Received, file.Size));

        void Save()
        {
            if (ranges.Count > 1)
            {
                lock (_saveLock)
                    SaveRanges(rangeFile, ranges);
            }
        }
    }

    /// <summary>
    /// SHA-256 of the file in order, on its own task so hashing overlaps receiving. A buffer received right at the
    /// hashing frontier is handed over and hashed as it is (up to <see cref="QueueLength"/> waiting); data received
    /// out of order, or while the queue is full, is read back from the file once everything before it arrived.
    /// </summary>
    sealed class OrderedHash(SafeFileHandle file, List<Range> ranges)
    {
        const int QueueLength = 8;

        readonly Lock _lock = new();
        readonly Queue<(byte[] Buffer, int Length)> _queue = new();
        readonly SemaphoreSlim _arrived = new(0);
        // Bytes hashed or queued to be: everything before it has arrived.
        long _frontier;
        int _rangeAtFrontier;

        /// <summary>Takes a pooled buffer just written at <paramref name="offset"/>; false if the hash will read it from the file instead.</summary>
        public bool TryHandOver(byte[] buffer, long offset, int length)
        {
            var taken = false;
            lock (_lock)
            {
                if (offset == _frontier && _queue.Count < QueueLength)
                {
                    _queue.Enqueue((buffer, length));
                    _frontier += length;
                    taken = true;
                }
            }
            _arrived.Release();
            return taken;
        }

        public async Task<string?> RunAsync(long size, CancellationToken ct)
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var readBuffer = new byte[BufferSize];
            for (var hashed = 0L; hashed < size;)
            {
                (byte[] Buffer, int Length) queued;
                var readFrom = 0L;
                var readLength = 0;
                lock (_lock)
                {
                    if (!_queue.TryDequeue(out queued))
                    {
                        var available = ArrivedFrom(_frontier);
                        readFrom = _frontier;
                        readLength = (int)Math.Min(readBuffer.Length, available - _frontier);
                        _frontier += readLength;
                    }
                }
                if (queued.Buffer is not null)
                {
                    hash.AppendData(queued.Buffer, 0, queued.Length);
                    hashed += queued.Length;
                    ArrayPool<byte>.Shared.Return(queued.Buffer);
                }
                else if (readLength > 0)
                {
                    for (var read = 0; read < readLength;)
                    {
                        var got = await RandomAccess.ReadAsync(file, readBuffer.AsMemory(read, readLength - read), readFrom + read, ct);
                        read += got > 0 ? got : throw new IOException($"The partial download ended at byte {readFrom + read} while hashing it");
                    }
                    hash.AppendData(readBuffer, 0, readLength);
                    hashed += readLength;
                }
                else
                {
                    await _arrived.WaitAsync(ct);
                }
            }
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        /// <summary>The end of the data arrived without a gap from <paramref name="at"/> (which only grows).</summary>
        long ArrivedFrom(long at)
        {
            while (_rangeAtFrontier < ranges.Count - 1 && ranges[_rangeAtFrontier].End <= at)
                _rangeAtFrontier++;
            var range = ranges[_rangeAtFrontier];
            return Math.Max(at, range.Next);
        }
    }

    /// <summary>A range request answered with the whole file (200): the server does not do ranges.</summary>
    sealed class RangeIgnoredException() : Exception("The server ignored the Range header");
}
