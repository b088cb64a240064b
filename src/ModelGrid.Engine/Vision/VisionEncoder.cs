using ModelGrid.Engine.Compute;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Vision;

/// <summary>
/// A vision tower and its projector, loaded from an mmproj GGUF or a Hugging Face folder with a <c>vision_config</c>:
/// images in (file bytes), image embeddings for the text model out. Encoding is serialized: one image at a time.
/// </summary>
public sealed class VisionEncoder : IDisposable
{
    readonly ModelSource _source;
    readonly IVisionTower _tower;
    readonly WorkerPool? _ownedPool;
    readonly Lock _encoding = new();

    VisionEncoder(ModelSource source, IVisionTower tower, WorkerPool? ownedPool)
    {
        _source = source;
        _tower = tower;
        _ownedPool = ownedPool;
        Preprocessor = ImagePreprocessor.FromMetadata(source.Metadata);
        if (Preprocessor.PatchSize != tower.Config.PatchSize || Preprocessor.MergeSize != tower.Config.MergeSize)
            throw new ModelFormatException($"{source.Name}: preprocessing patch {Preprocessor.PatchSize} / merge {Preprocessor.MergeSize} disagree with the tower's");
    }

    /// <summary>Loads an mmproj GGUF file or a Hugging Face model folder, running on its own pool of <paramref name="threads"/> threads.</summary>
    public static VisionEncoder Load(string mmprojPathOrFolder, int threads)
    {
        var pool = new WorkerPool(threads);
        try
        {
            return Load(mmprojPathOrFolder, pool, ownsPool: true);
        }
        catch
        {
            pool.Dispose();
            throw;
        }
    }

    /// <summary>Loads on a pool shared with the text model (not disposed with the encoder).</summary>
    public static VisionEncoder Load(string mmprojPathOrFolder, WorkerPool pool) => Load(mmprojPathOrFolder, pool, ownsPool: false);

    static VisionEncoder Load(string path, WorkerPool pool, bool ownsPool)
    {
        ModelSource source = Directory.Exists(path) ? HuggingFaceVisionSource.Open(path)
            : File.Exists(path) ? new GgufModelSource(GgufFile.Open(path))
            : throw new FileNotFoundException($"vision projector not found: '{path}' is neither an mmproj GGUF file nor a model folder", path);
        try
        {
            string architecture = source.Architecture;
            if (architecture != "clip")
                throw new ModelFormatException($"{source.Name}: not a vision projector (general.architecture is '{architecture}', an mmproj file says 'clip')");
            if (source.Metadata.TryGetBool("clip.has_vision_encoder") == false)
                throw new ModelFormatException($"{source.Name}: the projector has no vision encoder (clip.has_vision_encoder is false)");
            var tower = VisionProjectors.Load(source, pool);
            try
            {
                return new VisionEncoder(source, tower, ownsPool ? pool : null);
            }
            catch
            {
                tower.Dispose();
                throw;
            }
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The vision projector that goes with a model: a Hugging Face folder with a <c>vision_config</c> is its own (the
    /// folder is returned); otherwise the mmproj GGUF beside the model file (or inside the model folder), as downloads
    /// ship them: a <c>.gguf</c> whose name contains "mmproj". With several, the one sharing the longest name prefix
    /// with the model (then the first by name). Null when there is none.
    /// </summary>
    public static string? FindBeside(string modelPath)
    {
        string full = Path.GetFullPath(modelPath);
        if (Directory.Exists(full) && HuggingFaceVisionSource.HasVisionConfig(full))
            return full;
        string? folder = Directory.Exists(full) ? full : Path.GetDirectoryName(full);
        if (folder is null || !Directory.Exists(folder))
            return null;
        string modelName = Path.GetFileName(full);
        return Directory.EnumerateFiles(folder, "*.gguf")
            .Where(file => Path.GetFileName(file).Contains("mmproj", StringComparison.OrdinalIgnoreCase) && !string.Equals(file, full, StringComparison.Ordinal))
            .OrderByDescending(file => SharedPrefixLength(Path.GetFileName(file), modelName))
            .ThenBy(file => Path.GetFileName(file), StringComparer.Ordinal)
            .FirstOrDefault();
    }

    static int SharedPrefixLength(string a, string b)
    {
        int length = 0;
        while (length < a.Length && length < b.Length && a[length] == b[length])
            length++;
        return length;
    }

    public string Name => _source.Name;

    public VisionConfig Config => _tower.Config;

    public ImagePreprocessor Preprocessor { get; }

    /// <summary>Values per image token: the merger's width times (1 + deepstack mergers), llama.cpp's n_embd_mmproj.</summary>
    public int EmbeddingWidth => Config.EmbeddingWidth;

    /// <summary>The merger's output width: the text model's embedding width.</summary>
    public int MergerWidth => Config.ProjectionDim;

    /// <summary>Text layers after which the deepstack blocks are added, in block order.</summary>
    public int[] DeepstackLayers => Enumerable.Range(0, Config.DeepstackBlocks.Length).ToArray();

    /// <summary>Decodes and preprocesses a PNG or JPEG file; a bad file raises <see cref="ImageFormatException"/>.</summary>
    public PreprocessedImage Preprocess(ReadOnlySpan<byte> file) => Preprocessor.Preprocess(file);

    /// <summary>Runs the tower; <paramref name="observe"/>, when given, receives llama.cpp's named intermediates (for tests).</summary>
    public ImageEmbedding Encode(PreprocessedImage image, VisionStageCallback? observe = null)
    {
        if (image.PatchSize != Config.PatchSize || image.MergeSize != Config.MergeSize
            || image.Width % Preprocessor.Alignment != 0 || image.Height % Preprocessor.Alignment != 0)
            throw new ArgumentException(
                $"a {image.Width}x{image.Height} image with patch {image.PatchSize} / merge {image.MergeSize} was not preprocessed for this tower (patch {Config.PatchSize}, merge {Config.MergeSize})",
                nameof(image));
        lock (_encoding)
            return _tower.Encode(image, observe);
    }

    public void Dispose()
    {
        _tower.Dispose();
        _source.Dispose();
        _ownedPool?.Dispose();
    }
}
