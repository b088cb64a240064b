using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Tests.Gguf;

public sealed class GgufFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("mg-gguf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string> GoldenModels() =>
        new(Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(GoldenModels))]
    public void Golden_model_headers_parse_and_every_tensor_lies_inside_the_file(string fileName)
    {
        using var file = GgufFile.Open(Golden.Path("models", fileName));
        Assert.False(string.IsNullOrEmpty(file.Architecture));
        Assert.NotEmpty(file.Tensors);
        Assert.Equal(0, file.DataOffset % file.Alignment);
        foreach (var tensor in file.Tensors)
        {
            Assert.InRange(tensor.FileOffset + tensor.ByteSize, file.DataOffset, file.FileLength);
            Assert.Equal(GgmlTypeInfo.RowBytes(tensor.Type, tensor.RowLength) * tensor.RowCount, tensor.ByteSize);
        }
    }

    [Fact]
    public void Written_file_reads_back_every_value_type_and_tensor()
    {
        string path = Path.Combine(_dir, "roundtrip.gguf");
        byte[] data = Enumerable.Range(0, 64 * 4).Select(i => (byte)i).ToArray();
        new GgufWriter { Alignment = 64 }
            .Add("general.architecture", "test")
            .Add("general.alignment", 64u)
            .Add("u8", (byte)200).Add("i8", (sbyte)-5).Add("u16", (ushort)60000).Add("i16", (short)-30000)
            .Add("u32", 4000000000u).Add("i32", -7).Add("f32", 1.5f).Add("flag", true)
            .Add("u64", ulong.MaxValue / 3).Add("i64", long.MinValue / 3).Add("f64", Math.PI)
            .Add("strings", new[] { "a", "日本", "" }).Add("ints", new[] { 1, -2, 3 }).Add("floats", new[] { 0.25f })
            .AddTensor("t", GgmlType.F32, [16, 4], data)
            .Write(path);

        using var file = GgufFile.Open(path);
        Assert.Equal(3u, file.Version);
        Assert.Equal(64, file.Alignment);
        Assert.Equal("test", file.Architecture);
        Assert.Equal(200, file.Metadata.GetInteger("u8"));
        Assert.Equal(-5, file.Metadata.GetInteger("i8"));
        Assert.Equal(60000, file.Metadata.GetInteger("u16"));
        Assert.Equal(-30000, file.Metadata.GetInteger("i16"));
        Assert.Equal(4000000000, file.Metadata.GetInteger("u32"));
        Assert.Equal(-7, file.Metadata.GetInteger("i32"));
        Assert.Equal(1.5, file.Metadata.GetFloat("f32"));
        Assert.True(file.Metadata.TryGetBool("flag"));
        Assert.Equal((long)(ulong.MaxValue / 3), file.Metadata.GetInteger("u64"));
        Assert.Equal(long.MinValue / 3, file.Metadata.GetInteger("i64"));
        Assert.Equal(Math.PI, file.Metadata.GetFloat("f64"));
        Assert.Equal(["a", "日本", ""], file.Metadata.TryGetStringArray("strings")!);
        Assert.Equal([1L, -2, 3], file.Metadata.TryGetIntegerArray("ints")!);
        Assert.Equal([0.25f], file.Metadata.TryGetFloatArray("floats")!);
        var tensor = file.GetTensor("t");
        Assert.Equal([16L, 4], tensor.Dimensions);
        Assert.Equal(data, file.Data(tensor).ToArray());
    }

    [Fact]
    public void Missing_tensor_and_metadata_are_named()
    {
        using var file = GgufFile.Open(WriteValid());
        Assert.Contains("'blk.9.attn_q.weight' is missing", Assert.Throws<GgufFormatException>(() => file.GetTensor("blk.9.attn_q.weight")).Message);
        Assert.Contains("'qwen3.block_count' is missing", Assert.Throws<GgufFormatException>(() => file.Metadata.GetInteger("qwen3.block_count")).Message);
        Assert.Contains("should be a string", Assert.Throws<GgufFormatException>(() => file.Metadata.GetString("count")).Message);
    }

    [Fact]
    public void Wrong_magic_is_rejected() =>
        AssertRejected(Corrupt(bytes => bytes[0] = (byte)'X'), "wrong magic");

    [Fact]
    public void Unsupported_version_is_rejected() =>
        AssertRejected(Corrupt(bytes => BitConverter.TryWriteBytes(bytes.AsSpan(4), 99u)), "version 99");

    [Fact]
    public void Absurd_tensor_count_is_rejected_before_allocating() =>
        AssertRejected(Corrupt(bytes => BitConverter.TryWriteBytes(bytes.AsSpan(8), ulong.MaxValue / 2)), "tensor count");

    [Fact]
    public void Absurd_metadata_count_is_rejected_before_allocating() =>
        AssertRejected(Corrupt(bytes => BitConverter.TryWriteBytes(bytes.AsSpan(16), 1UL << 40)), "metadata count");

    [Fact]
    public void Truncated_header_is_rejected_at_every_cut()
    {
        byte[] valid = File.ReadAllBytes(WriteValid());
        for (int cut = 0; cut < HeaderEnd(valid); cut += 3)
        {
            string path = Path.Combine(_dir, $"cut{cut}.gguf");
            File.WriteAllBytes(path, valid[..cut]);
            Assert.ThrowsAny<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        }
    }

    [Fact]
    public void Tensor_data_beyond_the_end_of_file_is_rejected()
    {
        byte[] valid = File.ReadAllBytes(WriteValid());
        string path = Path.Combine(_dir, "short.gguf");
        File.WriteAllBytes(path, valid[..^16]);
        AssertRejected(path, "beyond the file size");
    }

    [Fact]
    public void Invalid_utf8_in_a_string_is_rejected()
    {
        string path = WriteValid(key: "name", value: "zzzz");
        byte[] bytes = File.ReadAllBytes(path);
        int at = bytes.AsSpan().IndexOf("zzzz"u8);
        bytes[at] = 0xC3;
        bytes[at + 1] = 0x28;
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, "not valid UTF-8");
    }

    [Fact]
    public void Absurd_dimension_is_rejected()
    {
        string path = WriteValid();
        byte[] bytes = File.ReadAllBytes(path);
        int at = bytes.AsSpan().IndexOf("weights"u8) + "weights".Length + 4;
        BitConverter.TryWriteBytes(bytes.AsSpan(at + 8), 1L << 50);
        File.WriteAllBytes(path, bytes);
        AssertRejected(path, "dimension 1");
    }

    [Fact]
    public void Random_corruption_never_crashes_the_reader()
    {
        byte[] valid = File.ReadAllBytes(WriteValid());
        int headerEnd = HeaderEnd(valid);
        var random = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            byte[] bytes = (byte[])valid.Clone();
            for (int flips = random.Next(1, 6); flips > 0; flips--)
                bytes[random.Next(headerEnd)] = (byte)random.Next(256);
            string path = Path.Combine(_dir, $"fuzz{trial}.gguf");
            File.WriteAllBytes(path, bytes);
            try
            {
                using var file = GgufFile.Open(path);
                foreach (var tensor in file.Tensors)
                    Assert.InRange(tensor.FileOffset + tensor.ByteSize, 0, file.FileLength);
            }
            catch (GgufFormatException)
            {
            }
        }
    }

    string WriteValid(string key = "count", object? value = null)
    {
        string path = Path.Combine(_dir, $"valid-{Guid.NewGuid():N}.gguf");
        new GgufWriter()
            .Add("general.architecture", "test")
            .Add(key, value ?? 3)
            .Add("tokens", new[] { "x", "y" })
            .AddTensor("weights", GgmlType.F32, [32, 2], new byte[256])
            .Write(path);
        return path;
    }

    string Corrupt(Action<byte[]> change)
    {
        string path = WriteValid();
        byte[] bytes = File.ReadAllBytes(path);
        change(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    static void AssertRejected(string path, string expectedInMessage)
    {
        var error = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path).Dispose());
        Assert.Contains(expectedInMessage, error.Message);
        Assert.Contains(Path.GetFileName(path), error.Message);
    }

    // The valid test file ends with its one 256-byte tensor, already aligned: everything before it is header.
    static int HeaderEnd(byte[] validFile) => validFile.Length - 256;
}
