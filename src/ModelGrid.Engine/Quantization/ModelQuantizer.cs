using ModelGrid.Engine.Models;

namespace ModelGrid.Engine.Quantization;

/// <summary>
/// <c>modelgrid quantize</c>: a model (GGUF of any type, or a Hugging Face folder) rewritten as a GGUF file in a
/// <see cref="QuantizationScheme"/>, with the tensor types llama-quantize would choose. A GGUF keeps all its metadata;
/// a Hugging Face folder gets the metadata and tensors llama.cpp's converter would write (including the vocabulary
/// from its tokenizer.json), so that llama.cpp loads the result too.
/// </summary>
public static class ModelQuantizer
{
    public static IReadOnlyList<WrittenTensor> Quantize(string inputPath, string outputPath, QuantizationScheme scheme, QuantizeOptions? options = null)
    {
        using var source = ModelSource.Open(inputPath);
        if (Path.GetFullPath(outputPath) == Path.GetFullPath(inputPath))
            throw new ArgumentException($"the output '{outputPath}' would overwrite the input", nameof(outputPath));
        string arch = source.Architecture;
        int layers = (int)source.Metadata.GetInteger($"{arch}.block_count");
        int experts = (int)(source.Metadata.TryGetInteger($"{arch}.expert_count") ?? 0);

        IEnumerable<KeyValuePair<string, object>> metadata;
        IEnumerable<SourceTensor> tensors;
        if (source is HuggingFaceModelSource)
        {
            var embeddings = source.GetTensor("token_embd.weight");
            string tokenizer = source.TokenizerJsonPath
                ?? throw new ModelFormatException($"{source.Name}: tokenizer.json is missing; a GGUF file needs the vocabulary");
            string configPath = Path.Combine(inputPath, "config.json");
            metadata = source.Metadata.Where(kv => kv.Key is not "tokenizer.chat_template" && kv.Key != $"{arch}.vocab_size")
                .Select(kv => new KeyValuePair<string, object>(kv.Key, AsConverterWrites(kv.Value)))
                .Concat(TokenizerMetadata.FromTokenizerJson(tokenizer, checked((int)embeddings.RowCount), File.Exists(configPath) ? configPath : null));
            tensors = HuggingFaceConversion.Tensors(source);
        }
        else
        {
            metadata = source.Metadata;
            tensors = source.TensorNames.Select(name => SourceTensor.FromWeight(source.GetTensor(name)));
        }
        return QuantizedGgufWriter.Write(outputPath, metadata, tensors.ToList(), scheme, layers, experts, options);
    }

    // The value types llama.cpp's converter writes and its loader insists on: u32 counts, f32 reals, i32 arrays.
    static object AsConverterWrites(object value) => value switch
    {
        long v when v is >= 0 and <= uint.MaxValue => (uint)v,
        double v => (float)v,
        long[] v => Array.ConvertAll(v, item => checked((int)item)),
        _ => value,
    };
}
