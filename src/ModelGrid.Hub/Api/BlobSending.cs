using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ModelGrid.Hub.Api;

/// <summary>
/// How a stored file's bytes reach the socket. <c>Results.File</c> keeps deciding status, headers, ranges and
/// conditional requests; only its final <see cref="IHttpResponseBodyFeature.SendFileAsync"/> is replaced.
/// Kestrel's own reads the file into a small buffer and copies that into its output pipe; this reads each
/// chunk straight into the pipe's memory (one copy fewer) in 1 MiB reads, so the socket gets large writes.
/// </summary>
static class BlobSending
{
    const int ChunkSize = 1 << 20;

    /// <summary>Serves the rest of the request with file bodies sent by <see cref="DirectSendFileFeature"/>.</summary>
    public static void UseDirectFileBodies(this HttpContext context)
    {
        var inner = context.Features.GetRequiredFeature<IHttpResponseBodyFeature>();
        context.Features.Set<IHttpResponseBodyFeature>(new DirectSendFileFeature(inner));
    }

    sealed class DirectSendFileFeature(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
    {
        public Stream Stream => inner.Stream;
        public System.IO.Pipelines.PipeWriter Writer => inner.Writer;
        public void DisableBuffering() => inner.DisableBuffering();
        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);
        public Task CompleteAsync() => inner.CompleteAsync();

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
            var end = count is { } length ? offset + length : RandomAccess.GetLength(file);
            await inner.StartAsync(cancellationToken);
            var writer = inner.Writer;
            while (offset < end)
            {
                var memory = writer.GetMemory(ChunkSize);
                var read = await RandomAccess.ReadAsync(file, memory[..(int)Math.Min(memory.Length, end - offset)], offset, cancellationToken);
                if (read == 0)
                    throw new IOException($"Blob '{path}' ended at byte {offset} of the {end} the response promised");
                writer.Advance(read);
                offset += read;
                var flushed = await writer.FlushAsync(cancellationToken);
                if (flushed.IsCompleted || flushed.IsCanceled)
                    return;
            }
        }
    }
}
