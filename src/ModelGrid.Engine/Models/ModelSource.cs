using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Tensors;

namespace ModelGrid.Engine.Models;

/// <summary>
/// The files of one model, seen through GGUF's vocabulary: metadata keys such as <c>qwen3.block_count</c> and
/// tensor names such as <c>blk.0.attn_q.weight</c>. A GGUF file is that already; a Hugging Face folder is
/// translated on open, so architectures are written once against one naming.
/// </summary>
public abstract class ModelSource : IDisposable
{
    public abstract string Name { get; }

    public abstract GgufMetadata Metadata { get; }

    public string Architecture => Metadata.GetString("general.architecture");

    /// <summary>tokenizer.json of a Hugging Face folder; null when the vocabulary is in <see cref="Metadata"/>.</summary>
    public virtual string? TokenizerJsonPath => null;

    public abstract IEnumerable<string> TensorNames { get; }

    public abstract bool TryGetTensor(string name, out WeightTensor tensor);

    public WeightTensor GetTensor(string name) =>
        TryGetTensor(name, out var tensor) ? tensor : throw new ModelFormatException($"{Name}: tensor '{name}' is missing");

    public WeightTensor? FindTensor(string name) => TryGetTensor(name, out var tensor) ? tensor : null;

    /// <summary>A tensor that must have exactly these dimensions (ggml order); the error names the tensor and both shapes.</summary>
    public WeightTensor GetTensor(string name, params long[] dimensions) => CheckShape(GetTensor(name), dimensions);

    public WeightTensor? FindTensor(string name, params long[] dimensions) =>
        TryGetTensor(name, out var tensor) ? CheckShape(tensor, dimensions) : null;

    /// <summary>
    /// The per-expert matrices of an MoE weight: GGUF stacks them in one 3-D tensor (<paramref name="stackedName"/>),
    /// a Hugging Face checkpoint may store one tensor per expert.
    /// </summary>
    public virtual WeightTensor[] GetExperts(string stackedName, int expertCount, long rowLength, long rows)
    {
        var stacked = GetTensor(stackedName, rowLength, rows, expertCount);
        return Enumerable.Range(0, expertCount).Select(stacked.Slice).ToArray();
    }

    WeightTensor CheckShape(WeightTensor tensor, long[] dimensions) =>
        tensor.Dimensions.AsSpan().SequenceEqual(dimensions)
            ? tensor
            : throw new ModelFormatException(
                $"{Name}: tensor '{tensor.Name}' has shape [{string.Join(", ", tensor.Dimensions)}], expected [{string.Join(", ", dimensions)}]");

    public abstract void Dispose();

    /// <summary>Opens a GGUF file or a Hugging Face model folder.</summary>
    public static ModelSource Open(string path)
    {
        if (Directory.Exists(path))
            return HuggingFaceModelSource.Open(path);
        if (File.Exists(path))
            return new GgufModelSource(GgufFile.Open(path));
        throw new FileNotFoundException($"model not found: '{path}' is neither a GGUF file nor a model folder", path);
    }
}

public sealed unsafe class GgufModelSource(GgufFile file) : ModelSource
{
    readonly Dictionary<string, WeightTensor> _tensors = new(StringComparer.Ordinal);

    public GgufFile File => file;

    public override string Name => Path.GetFileName(file.FilePath);

    public override GgufMetadata Metadata => file.Metadata;

    public override IEnumerable<string> TensorNames => file.Tensors.Select(t => t.Name);

    public override bool TryGetTensor(string name, out WeightTensor tensor)
    {
        lock (_tensors)
        {
            if (_tensors.TryGetValue(name, out tensor!))
                return true;
            if (!file.TryGetTensor(name, out var info))
                return false;
            tensor = new WeightTensor(name, info.Type, info.Dimensions, file.DataPointer(info));
            _tensors.Add(name, tensor);
            return true;
        }
    }

    public override void Dispose() => file.Dispose();
}
