using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace ModelGrid.Server.Scheduling;

/// <summary>Runs several jobs (the n choices or prompts of one request) and interleaves their tokens as they arrive.</summary>
public static class JobStreams
{
    public static async IAsyncEnumerable<(int Index, GeneratedToken Token)> Merge(Scheduler scheduler, IReadOnlyList<GenerationJob> jobs,
        [EnumeratorCancellation] CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var streams = new List<IAsyncEnumerable<GeneratedToken>>();
        try
        {
            foreach (var job in jobs)
                streams.Add(scheduler.Generate(job, linked.Token));
        }
        catch
        {
            // The jobs already queued belong to this request: withdraw them.
            linked.Cancel();
            throw;
        }
        var merged = Channel.CreateUnbounded<(int, GeneratedToken)>();
        var pumps = streams.Select(async (stream, index) =>
        {
            await foreach (var token in stream.WithCancellation(linked.Token))
                await merged.Writer.WriteAsync((index, token), linked.Token);
        }).ToArray();
        _ = Task.WhenAll(pumps).ContinueWith(all => merged.Writer.TryComplete(all.Exception?.InnerException), TaskScheduler.Default);
        try
        {
            await foreach (var item in merged.Reader.ReadAllAsync(ct))
                yield return item;
        }
        finally
        {
            linked.Cancel();
        }
    }
}
