using System.Collections.Concurrent;
using System.Security.Cryptography;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Text.Templates;
using ModelGrid.Engine.Text.Tokenization;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine;

/// <summary>
/// A loaded model: its weights (mapped, not copied), tokenizer and chat template. Create an
/// <see cref="InferenceSession"/> per conversation; disposing the model releases the file mapping.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    const int ImageCacheEntries = 64;

    readonly ConcurrentDictionary<string, ImageEmbedding> _imageCache = new();

    LanguageModel(string path, ModelSource source, DecoderModel decoder, ByteLevelBpeTokenizer tokenizer, ChatTemplate? chatTemplate,
        VisionEncoder? vision)
    {
        Vision = vision;
        Path = path;
        Source = source;
        Decoder = decoder;
        Tokenizer = tokenizer;
        ChatTemplate = chatTemplate;
        EndOfGenerationTokens = EndTokens(tokenizer);
    }

    public string Path { get; }
    public string Name => Source.Name;
    public ModelSource Source { get; }
    public DecoderModel Decoder { get; }
    public ByteLevelBpeTokenizer Tokenizer { get; }
    public ChatTemplate? ChatTemplate { get; }

    /// <summary>The vision tower, when the model has one: images can then be part of prompts.</summary>
    public VisionEncoder? Vision { get; }

    /// <summary>Tokens that end a reply: the eos token and the ChatML turn/text terminators the vocabulary has.</summary>
    public IReadOnlySet<int> EndOfGenerationTokens { get; }

    /// <summary>Loads a GGUF file or a Hugging Face model folder.</summary>
    public static LanguageModel Load(string path, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        var source = ModelSource.Open(path);
        DecoderModel? decoder = null;
        VisionEncoder? vision = null;
        try
        {
            decoder = ModelRegistry.Load(source, options);
            string? projector = options.MultimodalProjector ?? VisionEncoder.FindBeside(path);
            if (!string.IsNullOrEmpty(projector))
            {
                vision = VisionEncoder.Load(projector, options.Threads);
                if (vision.MergerWidth != decoder.EmbeddingLength)
                    throw new ModelFormatException(
                        $"{vision.Name} projects images to width {vision.MergerWidth}, but {source.Name} has embedding width {decoder.EmbeddingLength}");
            }
            var tokenizer = source.TokenizerJsonPath is { } tokenizerJson
                ? ByteLevelBpeTokenizer.FromHuggingFaceDirectory(System.IO.Path.GetDirectoryName(tokenizerJson)!, decoder.VocabSize)
                : ByteLevelBpeTokenizer.FromGgufMetadata(source.Metadata);
            string? template = source.Metadata.TryGetString("tokenizer.chat_template") ?? tokenizer.ChatTemplate;
            return new LanguageModel(path, source, decoder, tokenizer, template is null ? null : Text.Templates.ChatTemplate.Parse(template), vision);
        }
        catch
        {
            vision?.Dispose();
            decoder?.Dispose();
            source.Dispose();
            throw;
        }
    }

    public InferenceSession CreateSession(int? contextLength = null) => new(this, contextLength);

    /// <summary>
    /// Decodes, preprocesses and encodes an image file (PNG or JPEG). Results are cached by the file's SHA-256, so an
    /// image repeated within a conversation or across requests is encoded once.
    /// </summary>
    public ImageEmbedding EncodeImage(ReadOnlySpan<byte> file)
    {
        var vision = Vision ?? throw new NotSupportedException($"{Name} has no vision tower; load it with a multimodal projector (mmproj)");
        string key = Convert.ToHexString(SHA256.HashData(file));
        if (_imageCache.TryGetValue(key, out var cached))
            return cached;
        var embedding = vision.Encode(vision.Preprocess(file));
        if (_imageCache.Count >= ImageCacheEntries)
            _imageCache.Clear();
        return _imageCache.GetOrAdd(key, embedding);
    }

    static HashSet<int> EndTokens(ByteLevelBpeTokenizer tokenizer)
    {
        var tokens = new HashSet<int>();
        if (tokenizer.EosTokenId is int eos)
            tokens.Add(eos);
        foreach (string text in (string[])["<|im_end|>", "<|endoftext|>"])
            if (tokenizer.TryGetTokenId(text, out int id))
                tokens.Add(id);
        return tokens;
    }

    public void Dispose()
    {
        Vision?.Dispose();
        Decoder.Dispose();
        Source.Dispose();
    }
}
