using System.IO.MemoryMappedFiles;
using System.Text.Json;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Safetensors;

/// <summary>One entry of a safetensors header. <see cref="Shape"/> is row-major (outermost first), as PyTorch writes it.</summary>
public sealed record SafetensorsTensor(string Name, GgmlType Type, long[] Shape, long FileOffset, long ByteSize);

/// <summary>A .safetensors file mapped into memory: an 8-byte header length, a JSON header, then raw tensor bytes.</summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100 << 20;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;

    public string FilePath { get; }
    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    public SafetensorsFile(string path)
    {
        FilePath = path;
        string name = Path.GetFileName(path);
        long length = MappedFiles.Length(path);
        if (length < 8)
            throw new ModelFormatException($"{name}: {length} bytes is too short for a safetensors header");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
        try
        {
            long headerLength = *(long*)_base;
            if (headerLength <= 0 || headerLength > Math.Min(MaxHeaderBytes, length - 8))
                throw new ModelFormatException($"{name}: header length {headerLength} is impossible for a {length}-byte file");
            long dataStart = 8 + headerLength;
            var tensors = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            JsonDocument header;
            try
            {
                header = JsonDocument.Parse(new ReadOnlyMemory<byte>(new ReadOnlySpan<byte>(_base + 8, (int)headerLength).ToArray()));
            }
            catch (JsonException e)
            {
                throw new ModelFormatException($"{name}: header is not valid JSON ({e.Message})");
            }
            using (header)
            {
                foreach (var entry in header.RootElement.EnumerateObject())
                {
                    if (entry.Name == "__metadata__")
                        continue;
                    tensors.Add(entry.Name, Describe(name, entry, dataStart, length));
                }
            }
            Tensors = tensors;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    static SafetensorsTensor Describe(string fileName, JsonProperty entry, long dataStart, long fileLength)
    {
        try
        {
            string dtype = entry.Value.GetProperty("dtype").GetString()!;
            var type = dtype switch
            {
                "F32" => GgmlType.F32,
                "F16" => GgmlType.F16,
                "BF16" => GgmlType.BF16,
                _ => throw new ModelFormatException($"{fileName}: tensor '{entry.Name}' has unsupported dtype {dtype} (F32, F16, BF16 are supported)"),
            };
            long[] shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            long[] offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            long elements = shape.Aggregate(1L, (a, b) => b >= 0 ? checked(a * b) : throw new ModelFormatException($"{fileName}: tensor '{entry.Name}' has a negative dimension"));
            long bytes = checked(elements * GgmlTypeInfo.BlockBytes(type));
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] - offsets[0] != bytes || dataStart + offsets[1] > fileLength)
                throw new ModelFormatException(
                    $"{fileName}: tensor '{entry.Name}' data_offsets [{string.Join(", ", offsets)}] do not fit its {bytes} bytes inside the file");
            return new SafetensorsTensor(entry.Name, type, shape, dataStart + offsets[0], bytes);
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            throw new ModelFormatException($"{fileName}: tensor '{entry.Name}' has a malformed header entry ({e.Message})");
        }
    }

    public byte* DataPointer(SafetensorsTensor tensor) => _base + tensor.FileOffset;

    /// <summary>
    /// The tensor as a <see cref="WeightTensor"/> named <paramref name="name"/>: row-major [out, in] is ggml's [in, out],
    /// the same bytes with the dimension order reversed.
    /// </summary>
    public WeightTensor View(SafetensorsTensor tensor, string name) =>
        new(name, tensor.Type, tensor.Shape.Length == 0 ? [1] : tensor.Shape.Reverse().ToArray(), DataPointer(tensor));

    public void Dispose()
    {
        if (_base != null)
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view?.Dispose();
        _map?.Dispose();
    }
}
