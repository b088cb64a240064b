using System.Text;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Gguf;

/// <summary>
/// Writes GGUF v3 files: metadata in insertion order, then tensor data aligned to <see cref="Alignment"/>.
/// Tensor bytes come from callbacks so that large files are streamed, never held whole in memory.
/// </summary>
public sealed class GgufWriter
{
    readonly List<(string Key, object Value)> _metadata = [];
    readonly List<(string Name, GgmlType Type, long[] Dims, long Bytes, Action<Stream> Write)> _tensors = [];

    public int Alignment { get; init; } = 32;

    /// <summary>Adds a value: string, bool, byte/sbyte/short/ushort/int/uint/long/ulong, float, double, or a 1-D array of those.</summary>
    public GgufWriter Add(string key, object value)
    {
        _metadata.Add((key, value));
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] dims, Action<Stream> writeData)
    {
        long rows = dims.Skip(1).Aggregate(1L, (a, b) => a * b);
        _tensors.Add((name, type, dims, rows * GgmlTypeInfo.RowBytes(type, dims[0]), writeData));
        return this;
    }

    public GgufWriter AddTensor(string name, GgmlType type, long[] dims, byte[] data) =>
        AddTensor(name, type, dims, stream => stream.Write(data));

    public void Write(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Write(stream);
    }

    public void Write(Stream output)
    {
        var writer = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true);
        writer.Write(0x46554747u);
        writer.Write(3u);
        writer.Write((ulong)_tensors.Count);
        writer.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(writer, key);
            WriteValue(writer, value, key);
        }
        long offset = 0;
        foreach (var (name, type, dims, bytes, _) in _tensors)
        {
            WriteString(writer, name);
            writer.Write((uint)dims.Length);
            foreach (long d in dims)
                writer.Write((ulong)d);
            writer.Write((uint)type);
            writer.Write((ulong)offset);
            offset = Align(offset + bytes);
        }
        writer.Flush();
        long position = output.Position;
        Pad(output, Align(position) - position);
        foreach (var (name, _, _, bytes, write) in _tensors)
        {
            long start = output.Position;
            write(output);
            long written = output.Position - start;
            if (written != bytes)
                throw new InvalidOperationException($"tensor '{name}': wrote {written} bytes, expected {bytes}");
            Pad(output, Align(written) - written);
        }
        output.Flush();
    }

    long Align(long value) => (value + Alignment - 1) / Alignment * Alignment;

    static void Pad(Stream output, long count)
    {
        for (long i = 0; i < count; i++)
            output.WriteByte(0);
    }

    static void WriteString(BinaryWriter writer, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }

    static void WriteValue(BinaryWriter writer, object value, string key)
    {
        if (value is Array array)
        {
            writer.Write((uint)GgufValueType.Array);
            writer.Write((uint)TypeOf(array.GetType().GetElementType()!, key));
            writer.Write((ulong)array.Length);
            foreach (object item in array)
                WriteScalar(writer, item, key);
            return;
        }
        writer.Write((uint)TypeOf(value.GetType(), key));
        WriteScalar(writer, value, key);
    }

    static GgufValueType TypeOf(Type type, string key) => type switch
    {
        _ when type == typeof(byte) => GgufValueType.UInt8,
        _ when type == typeof(sbyte) => GgufValueType.Int8,
        _ when type == typeof(ushort) => GgufValueType.UInt16,
        _ when type == typeof(short) => GgufValueType.Int16,
        _ when type == typeof(uint) => GgufValueType.UInt32,
        _ when type == typeof(int) => GgufValueType.Int32,
        _ when type == typeof(float) => GgufValueType.Float32,
        _ when type == typeof(bool) => GgufValueType.Bool,
        _ when type == typeof(string) => GgufValueType.String,
        _ when type == typeof(ulong) => GgufValueType.UInt64,
        _ when type == typeof(long) => GgufValueType.Int64,
        _ when type == typeof(double) => GgufValueType.Float64,
        _ => throw new ArgumentException($"metadata '{key}': values of type {type.Name} cannot be written to GGUF"),
    };

    static void WriteScalar(BinaryWriter writer, object value, string key)
    {
        switch (value)
        {
            case byte v: writer.Write(v); break;
            case sbyte v: writer.Write(v); break;
            case ushort v: writer.Write(v); break;
            case short v: writer.Write(v); break;
            case uint v: writer.Write(v); break;
            case int v: writer.Write(v); break;
            case float v: writer.Write(v); break;
            case bool v: writer.Write((byte)(v ? 1 : 0)); break;
            case string v: WriteString(writer, v); break;
            case ulong v: writer.Write(v); break;
            case long v: writer.Write(v); break;
            case double v: writer.Write(v); break;
            default: throw new ArgumentException($"metadata '{key}': values of type {value.GetType().Name} cannot be written to GGUF");
        }
    }
}
