using System.IO.MemoryMappedFiles;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Gguf;

/// <summary>
/// A GGUF (v2/v3) file mapped into memory. Metadata is parsed once; tensor data is never copied: callers get
/// pointers or spans into the mapping, which stays valid until the file is disposed.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    const uint Magic = 0x46554747; // "GGUF" little-endian
    const int DefaultAlignment = 32;
    const int MaxDimensions = 4;

    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    readonly byte* _base;
    readonly Dictionary<string, GgufTensorInfo> _tensorsByName;
    bool _disposed;

    public string FilePath { get; }
    public long FileLength { get; }
    public uint Version { get; }
    public int Alignment { get; }
    public long DataOffset { get; }
    public GgufMetadata Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    GgufFile(string path)
    {
        FilePath = path;
        string name = Path.GetFileName(path);
        FileLength = MappedFiles.Length(path);
        if (FileLength < 24)
            throw new GgufFormatException($"{name}: {FileLength} bytes is too short for a GGUF header");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            _base = pointer + _view.PointerOffset;

            var reader = new GgufReader(_base, FileLength, name);
            if (reader.Read<uint>("magic") != Magic)
                throw reader.Error("not a GGUF file (wrong magic)");
            Version = reader.Read<uint>("version");
            if (Version is not (2 or 3))
                throw reader.Error($"unsupported GGUF version {Version} (2 and 3 are supported)");
            // Minimum encoded sizes: a tensor entry is at least 8+4+8+4+8 bytes, a key/value at least 8+4+1.
            ulong tensorCount = reader.ReadCount("tensor count", 32);
            ulong metadataCount = reader.ReadCount("metadata count", 13);

            var metadata = new Dictionary<string, object>((int)metadataCount, StringComparer.Ordinal);
            for (ulong i = 0; i < metadataCount; i++)
            {
                string key = reader.ReadString($"metadata key #{i}");
                var type = (GgufValueType)reader.Read<uint>($"type of metadata '{key}'");
                if (!metadata.TryAdd(key, ReadValue(ref reader, type, key)))
                    throw reader.Error($"metadata key '{key}' appears twice");
            }
            Metadata = new GgufMetadata(metadata, name);

            Alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out object? alignment))
            {
                long value = GgufMetadata.ToInt64(alignment, "general.alignment");
                if (value <= 0 || value > 1 << 20 || (value & (value - 1)) != 0)
                    throw reader.Error($"general.alignment {value} is not a power of two");
                Alignment = (int)value;
            }

            var entries = new List<(string Name, GgmlType Type, long[] Dims, ulong Offset)>((int)tensorCount);
            for (ulong i = 0; i < tensorCount; i++)
            {
                string tensorName = reader.ReadString($"tensor #{i} name");
                uint dimensionCount = reader.Read<uint>($"tensor '{tensorName}' dimension count");
                if (dimensionCount is 0 or > MaxDimensions)
                    throw reader.Error($"tensor '{tensorName}' has {dimensionCount} dimensions (1..{MaxDimensions} allowed)");
                var dims = new long[dimensionCount];
                for (int d = 0; d < dims.Length; d++)
                {
                    ulong size = reader.Read<ulong>($"tensor '{tensorName}' dimension {d}");
                    if (size == 0 || size > (ulong)FileLength * 8)
                        throw reader.Error($"tensor '{tensorName}' dimension {d} is {size}, impossible for a {FileLength}-byte file");
                    dims[d] = (long)size;
                }
                var tensorType = (GgmlType)reader.Read<uint>($"tensor '{tensorName}' type");
                ulong offset = reader.Read<ulong>($"tensor '{tensorName}' offset");
                entries.Add((tensorName, tensorType, dims, offset));
            }

            reader.AlignTo(Alignment);
            DataOffset = reader.Position;

            var tensors = new List<GgufTensorInfo>(entries.Count);
            _tensorsByName = new Dictionary<string, GgufTensorInfo>(entries.Count, StringComparer.Ordinal);
            foreach (var (tensorName, tensorType, dims, offset) in entries)
            {
                var info = Describe(name, tensorName, tensorType, dims, offset);
                if (!_tensorsByName.TryAdd(tensorName, info))
                    throw new GgufFormatException($"{name}: tensor '{tensorName}' appears twice");
                tensors.Add(info);
            }
            Tensors = tensors;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static GgufFile Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"model file not found: {path}", path);
        return new GgufFile(path);
    }

    GgufTensorInfo Describe(string fileName, string tensorName, GgmlType type, long[] dims, ulong offset)
    {
        if (!GgmlTypeInfo.IsKnown(type))
            throw new GgufFormatException($"{fileName}: tensor '{tensorName}' has unsupported type {(uint)type}");
        int blockSize = GgmlTypeInfo.BlockSize(type);
        if (dims[0] % blockSize != 0)
            throw new GgufFormatException($"{fileName}: tensor '{tensorName}' row length {dims[0]} is not a multiple of the {type} block size {blockSize}");
        long rows = 1;
        foreach (long d in dims.AsSpan(1))
            rows = d <= long.MaxValue / rows ? rows * d : throw new GgufFormatException($"{fileName}: tensor '{tensorName}' dimensions overflow");
        long rowBytes = dims[0] / blockSize * GgmlTypeInfo.BlockBytes(type);
        if (rows > FileLength / Math.Max(1, rowBytes))
            throw new GgufFormatException($"{fileName}: tensor '{tensorName}' ({string.Join('x', dims)} {type}) is larger than the file");
        long byteSize = rows * rowBytes;
        if (offset % (ulong)Alignment != 0)
            throw new GgufFormatException($"{fileName}: tensor '{tensorName}' data offset {offset} is not aligned to {Alignment}");
        if (offset > (ulong)(FileLength - DataOffset) || (long)offset + byteSize > FileLength - DataOffset)
            throw new GgufFormatException(
                $"{fileName}: tensor '{tensorName}' data [{DataOffset + (long)offset}, {DataOffset + (long)offset + byteSize}) ends beyond the file size {FileLength}");
        return new GgufTensorInfo(tensorName, type, dims, DataOffset + (long)offset, byteSize);
    }

    static object ReadValue(ref GgufReader reader, GgufValueType type, string key) => type switch
    {
        GgufValueType.UInt8 => reader.Read<byte>(key),
        GgufValueType.Int8 => reader.Read<sbyte>(key),
        GgufValueType.UInt16 => reader.Read<ushort>(key),
        GgufValueType.Int16 => reader.Read<short>(key),
        GgufValueType.UInt32 => reader.Read<uint>(key),
        GgufValueType.Int32 => reader.Read<int>(key),
        GgufValueType.Float32 => reader.Read<float>(key),
        GgufValueType.Bool => reader.Read<byte>(key) != 0,
        GgufValueType.String => reader.ReadString($"value of '{key}'"),
        GgufValueType.UInt64 => reader.Read<ulong>(key),
        GgufValueType.Int64 => reader.Read<long>(key),
        GgufValueType.Float64 => reader.Read<double>(key),
        GgufValueType.Array => ReadArray(ref reader, key),
        _ => throw reader.Error($"metadata '{key}' has unknown value type {(uint)type}"),
    };

    static object ReadArray(ref GgufReader reader, string key)
    {
        var elementType = (GgufValueType)reader.Read<uint>($"element type of '{key}'");
        int elementBytes = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw reader.Error($"array '{key}' has unknown element type {(uint)elementType}"),
        };
        int count = checked((int)Math.Min(reader.ReadCount($"length of array '{key}'", elementBytes), int.MaxValue));
        return elementType switch
        {
            GgufValueType.UInt8 => ReadPrimitives<byte>(ref reader, count, key),
            GgufValueType.Int8 => ReadPrimitives<sbyte>(ref reader, count, key),
            GgufValueType.UInt16 => ReadPrimitives<ushort>(ref reader, count, key),
            GgufValueType.Int16 => ReadPrimitives<short>(ref reader, count, key),
            GgufValueType.UInt32 => ReadPrimitives<uint>(ref reader, count, key),
            GgufValueType.Int32 => ReadPrimitives<int>(ref reader, count, key),
            GgufValueType.Float32 => ReadPrimitives<float>(ref reader, count, key),
            GgufValueType.UInt64 => ReadPrimitives<ulong>(ref reader, count, key),
            GgufValueType.Int64 => ReadPrimitives<long>(ref reader, count, key),
            GgufValueType.Float64 => ReadPrimitives<double>(ref reader, count, key),
            GgufValueType.Bool => Array.ConvertAll(ReadPrimitives<byte>(ref reader, count, key), b => b != 0),
            GgufValueType.String => ReadStrings(ref reader, count, key),
            _ => ReadNested(ref reader, count, key),
        };
    }

    static T[] ReadPrimitives<T>(ref GgufReader reader, int count, string key) where T : unmanaged
    {
        var values = new T[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = reader.Read<T>(key);
        return values;
    }

    static string[] ReadStrings(ref GgufReader reader, int count, string key)
    {
        var values = new string[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = reader.ReadString($"'{key}'[{i}]");
        return values;
    }

    static object[] ReadNested(ref GgufReader reader, int count, string key)
    {
        var values = new object[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = ReadArray(ref reader, $"{key}[{i}]");
        return values;
    }

    public string Architecture => Metadata.GetString("general.architecture");

    // ---- tensor access ----

    public bool TryGetTensor(string name, out GgufTensorInfo tensor) => _tensorsByName.TryGetValue(name, out tensor!);

    public GgufTensorInfo GetTensor(string name) => _tensorsByName.TryGetValue(name, out var tensor)
        ? tensor
        : throw new GgufFormatException($"{Path.GetFileName(FilePath)}: tensor '{name}' is missing");

    /// <summary>Pointer to a tensor's first byte inside the mapping; valid until <see cref="Dispose"/>.</summary>
    public byte* DataPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + tensor.FileOffset;
    }

    /// <summary>The tensor's bytes; for tensors of 2 GiB and more use <see cref="DataPointer"/>.</summary>
    public ReadOnlySpan<byte> Data(GgufTensorInfo tensor) => new(DataPointer(tensor), checked((int)tensor.ByteSize));

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (_view is not null)
        {
            if (_base != null)
                _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}
