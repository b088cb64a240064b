using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Text.Templates;
using ModelGrid.Engine.Text.Tokenization;

namespace ModelGrid.Engine;

/// <summary>
/// A loaded model: its weights (mapped, not copied), tokenizer and chat template. Create an
/// <see cref="InferenceSession"/> per conversation; disposing the model releases the file mapping.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    LanguageModel(string path, ModelSource source, DecoderModel decoder, ByteLevelBpeTokenizer tokenizer, ChatTemplate? chatTemplate)
    {
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

    /// <summary>Tokens that end a reply: the eos token and the ChatML turn/text terminators the vocabulary has.</summary>
    public IReadOnlySet<int> EndOfGenerationTokens { get; }

    /// <summary>Loads a GGUF file or a Hugging Face model folder.</summary>
    public static LanguageModel Load(string path, ModelOptions? options = null)
    {
        var source = ModelSource.Open(path);
        DecoderModel? decoder = null;
        try
        {
            decoder = ModelRegistry.Load(source, options ?? new ModelOptions());
            var tokenizer = source.TokenizerJsonPath is { } tokenizerJson
                ? ByteLevelBpeTokenizer.FromHuggingFaceDirectory(System.IO.Path.GetDirectoryName(tokenizerJson)!, decoder.VocabSize)
                : ByteLevelBpeTokenizer.FromGgufMetadata(source.Metadata);
            string? template = source.Metadata.TryGetString("tokenizer.chat_template") ?? tokenizer.ChatTemplate;
            return new LanguageModel(path, source, decoder, tokenizer, template is null ? null : Text.Templates.ChatTemplate.Parse(template));
        }
        catch
        {
            decoder?.Dispose();
            source.Dispose();
            throw;
        }
    }

    public InferenceSession CreateSession(int? contextLength = null) => new(this, contextLength);

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
        Decoder.Dispose();
        Source.Dispose();
    }
}
