using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Quantization;

/// <summary>One tensor as written: name, type chosen for it, dimensions and data size.</summary>
public sealed record WrittenTensor(string Name, GgmlType Type, long[] Dimensions, long ByteSize);

/// <summary>How to write: worker threads for encoding rows, and a callback after each tensor (progress).</summary>
public sealed record QuantizeOptions
{
    public int Threads { get; init; } = Environment.ProcessorCount;

    public Action<WrittenTensor>? TensorWritten { get; init; }
}

/// <summary>
/// Writes a GGUF file of <see cref="SourceTensor"/>s in a <see cref="QuantizationScheme"/>: the metadata as given plus
/// <c>general.quantization_version</c> and <c>general.file_type</c> (as llama-quantize sets them), tensors in llama.cpp's
/// order with the types <see cref="TensorTypeSelector"/> picks. Rows are encoded in parallel, a few megabytes at a
/// time, and written as they are done: memory stays small whatever the model size.
/// </summary>
public static class QuantizedGgufWriter
{
    // ggml's GGML_QNT_VERSION: the block layouts' version, which loaders check.
    const uint QuantizationVersion = 2;
    const int ChunkBytes = 4 << 20;

    public static IReadOnlyList<WrittenTensor> Write(string path, IEnumerable<KeyValuePair<string, object>> metadata, IEnumerable<SourceTensor> tensors,
        QuantizationScheme scheme, int layerCount, int expertCount, QuantizeOptions? options = null)
    {
        options ??= new QuantizeOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Threads, 1, nameof(options.Threads));
        var ordered = tensors.OrderBy(t => t.Name, TensorTypeSelector.LlamaOrder).ToList();
        var types = TensorTypeSelector.Choose(scheme, ordered.Select(t => new TensorDescription(t.Name, t.Dimensions, t.KeptType)).ToList(),
            layerCount, expertCount);

        var values = metadata.ToList();
        Set(values, "general.quantization_version", QuantizationVersion);
        Set(values, "general.file_type", (uint)scheme.FileType);
        int alignment = values.FirstOrDefault(kv => kv.Key == "general.alignment").Value is { } value
            ? checked((int)GgufMetadata.ToInt64(value, "general.alignment"))
            : 32;
        var writer = new GgufWriter { Alignment = alignment };
        foreach (var (key, item) in values)
            writer.Add(key, item);

        var written = new List<WrittenTensor>(ordered.Count);
        for (int i = 0; i < ordered.Count; i++)
        {
            var (tensor, type) = (ordered[i], types[i]);
            if (!TensorEncoder.Supports(type))
                throw new NotSupportedException($"tensor '{tensor.Name}': cannot write type {type} (its stored type, which {scheme} keeps)");
            var entry = new WrittenTensor(tensor.Name, type, tensor.Dimensions, tensor.RowCount * GgmlTypeInfo.RowBytes(type, tensor.RowLength));
            writer.AddTensor(tensor.Name, type, tensor.Dimensions, stream =>
            {
                WriteRows(stream, tensor, type, options.Threads);
                options.TensorWritten?.Invoke(entry);
            });
            written.Add(entry);
        }
        writer.Write(path);
        return written;
    }

    // As gguf_set_val does for llama-quantize: a key the input already has moves to the end with its new value.
    static void Set(List<KeyValuePair<string, object>> values, string key, object value)
    {
        values.RemoveAll(kv => kv.Key == key);
        values.Add(new(key, value));
    }

    static void WriteRows(Stream stream, SourceTensor tensor, GgmlType type, int threads)
    {
        long rowBytes = GgmlTypeInfo.RowBytes(type, tensor.RowLength);
        if (tensor.Stored is { } stored && stored.Type == type)
        {
            for (long row = 0; row < tensor.RowCount; row++)
                stream.Write(stored.Row(row));
            return;
        }
        int rowsPerChunk = (int)Math.Clamp(ChunkBytes / rowBytes, 1, tensor.RowCount);
        var chunk = new byte[rowsPerChunk * rowBytes];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads };
        for (long first = 0; first < tensor.RowCount; first += rowsPerChunk)
        {
            int count = (int)Math.Min(rowsPerChunk, tensor.RowCount - first);
            Parallel.For(0, count, parallel, () => new float[tensor.RowLength], (index, _, floats) =>
            {
                tensor.ReadRow(first + index, floats);
                TensorEncoder.EncodeRow(type, floats, chunk.AsSpan((int)(index * rowBytes), (int)rowBytes));
                return floats;
            }, _ => { });
            stream.Write(chunk, 0, (int)(count * rowBytes));
        }
    }
}
