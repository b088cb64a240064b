using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Tests.Models;

/// <summary>
/// Readable files that do not make a valid model: each is a golden model rewritten with one defect, and loading it
/// must fail with an error that names the defect (never a crash, a hang or a wrong answer).
/// </summary>
public sealed class MalformedModelTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("mg-malformed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string GoldenModel(string architecture) =>
        Directory.EnumerateFiles(Golden.Path("models"), "*.gguf").Order().First(path =>
        {
            using var file = GgufFile.Open(path);
            return file.Architecture == architecture;
        });

    [Theory]
    [InlineData("qwen3")]
    [InlineData("qwen35")]
    [InlineData("qwen35moe")]
    public void Missing_tensor_is_named(string architecture)
    {
        string source = GoldenModel(architecture);
        string missing = architecture.StartsWith("qwen35") ? "blk.0.ssm_conv1d.weight" : "blk.1.attn_k.weight";
        string path = Rewrite(source, dropTensor: missing);
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains($"'{missing}' is missing", error.Message);
    }

    [Fact]
    public void Layer_type_list_that_does_not_match_the_block_count_is_rejected()
    {
        string path = Rewrite(GoldenModel("qwen35"), change: metadata =>
        {
            var flags = (bool[])metadata["qwen35.attention.recurrent_layers"];
            metadata["qwen35.attention.recurrent_layers"] = flags[..^1];
        });
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains("recurrent_layers", error.Message);
        Assert.Contains("block_count", error.Message);
    }

    [Fact]
    public void Inconsistent_linear_attention_head_counts_are_rejected()
    {
        string path = Rewrite(GoldenModel("qwen35"), change: metadata => metadata["qwen35.ssm.time_step_rank"] = 3u);
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains("heads", error.Message);
    }

    [Fact]
    public void Attention_heads_that_do_not_divide_are_rejected()
    {
        string path = Rewrite(GoldenModel("qwen3"), change: metadata => metadata["qwen3.attention.head_count_kv"] = 3u);
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains("head_count_kv", error.Message);
    }

    [Fact]
    public void Tensor_with_the_wrong_shape_is_named_with_both_shapes()
    {
        string path = Rewrite(GoldenModel("qwen3"), change: metadata => metadata["qwen3.feed_forward_length"] = 1000u);
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains("ffn_gate.weight", error.Message);
        Assert.Contains("expected [", error.Message);
    }

    [Fact]
    public void Absurd_dimension_in_metadata_is_rejected_before_allocating()
    {
        string path = Rewrite(GoldenModel("qwen3"), change: metadata => metadata["qwen3.embedding_length"] = uint.MaxValue);
        var error = Assert.Throws<ModelFormatException>(() => Load(path));
        Assert.Contains("embedding_length", error.Message);
    }

    [Fact]
    public void Hugging_face_folder_without_config_is_named()
    {
        string folder = CopyHuggingFaceFolder(except: "config.json");
        var error = Assert.Throws<ModelFormatException>(() => Load(folder));
        Assert.Contains("config.json is missing", error.Message);
    }

    [Fact]
    public void Hugging_face_folder_with_invalid_config_json_is_named()
    {
        string folder = CopyHuggingFaceFolder();
        File.WriteAllText(Path.Combine(folder, "config.json"), "{ \"model_type\": ");
        var error = Assert.Throws<ModelFormatException>(() => Load(folder));
        Assert.Contains("config.json is not valid JSON", error.Message);
    }

    [Fact]
    public void Safetensors_with_offsets_beyond_the_file_is_named()
    {
        string folder = CopyHuggingFaceFolder();
        string weights = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<ModelFormatException>(() => Load(folder));
        Assert.Contains("data_offsets", error.Message);
    }

    [Fact]
    public void Safetensors_with_an_absurd_header_length_is_named()
    {
        string folder = CopyHuggingFaceFolder();
        string weights = Path.Combine(folder, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 8), long.MaxValue / 2);
        File.WriteAllBytes(weights, bytes);
        var error = Assert.Throws<ModelFormatException>(() => Load(folder));
        Assert.Contains("header length", error.Message);
    }

    [Fact]
    public void Model_files_reached_through_symbolic_links_load()
    {
        string source = Directory.EnumerateDirectories(Golden.Path("models"), "*-hf").Order().First();
        string folder = Path.Combine(_dir, "snapshot");
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.EnumerateFiles(source))
            File.CreateSymbolicLink(Path.Combine(folder, Path.GetFileName(file)), file);
        string gguf = Path.Combine(_dir, "linked.gguf");
        File.CreateSymbolicLink(gguf, GoldenModel("qwen3"));
        Load(folder);
        Load(gguf);
    }

    string CopyHuggingFaceFolder(string? except = null)
    {
        string source = Directory.EnumerateDirectories(Golden.Path("models"), "*-hf").Order().First();
        string target = Path.Combine(_dir, Path.GetFileName(source));
        Directory.CreateDirectory(target);
        foreach (string file in Directory.EnumerateFiles(source).Where(f => Path.GetFileName(f) != except))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    static void Load(string path)
    {
        using var source = ModelSource.Open(path);
        using var model = ModelRegistry.Load(source, new ModelOptions { Threads = 1 });
    }

    /// <summary>Copies a GGUF file, optionally changing its metadata and leaving one tensor out.</summary>
    string Rewrite(string sourcePath, Action<Dictionary<string, object>>? change = null, string? dropTensor = null)
    {
        using var source = GgufFile.Open(sourcePath);
        var metadata = source.Metadata.Where(kv => kv.Key != "general.alignment").ToDictionary(kv => kv.Key, kv => kv.Value);
        change?.Invoke(metadata);
        var writer = new GgufWriter();
        foreach (var (key, value) in metadata)
            writer.Add(key, value);
        foreach (var tensor in source.Tensors.Where(t => t.Name != dropTensor))
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, source.Data(tensor).ToArray());
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.gguf");
        writer.Write(path);
        return path;
    }
}
