using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Quantization;
using ModelGrid.Engine.Tests.Models;

namespace ModelGrid.Engine.Tests.Quantization;

public sealed class ModelQuantizerTests : IDisposable
{
    readonly string _directory = Directory.CreateTempSubdirectory("modelgrid-quantize-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Golden "X-&lt;type&gt;.gguf" files written by llama-quantize from "X-f32.gguf", for every type we can write.</summary>
    public static TheoryData<string, string, string> LlamaQuantizeOutputs()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var path in Directory.GetFiles(Golden.Path("models"), "*-f32.gguf").Order())
        {
            string stem = Path.GetFileName(path)[..^"-f32.gguf".Length];
            foreach (var scheme in QuantizationScheme.All.Where(s => s.IsQuantized))
                if (File.Exists(Golden.Path("models", $"{stem}-{scheme.Name.ToLowerInvariant()}.gguf")))
                    data.Add(Path.GetFileName(path), $"{stem}-{scheme.Name.ToLowerInvariant()}.gguf", scheme.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LlamaQuantizeOutputs))]
    public void Quantizing_the_float_model_reproduces_llama_quantize_output(string floatModel, string quantizedModel, string scheme)
    {
        string output = Path.Combine(_directory, quantizedModel);
        ModelQuantizer.Quantize(Golden.Path("models", floatModel), output, QuantizationScheme.Parse(scheme));

        using var ours = GgufFile.Open(output);
        using var reference = GgufFile.Open(Golden.Path("models", quantizedModel));
        Assert.Equal(reference.Tensors.Select(t => $"{t.Name} {t.Type} [{string.Join(",", t.Dimensions)}]"),
            ours.Tensors.Select(t => $"{t.Name} {t.Type} [{string.Join(",", t.Dimensions)}]"));
        foreach (var tensor in reference.Tensors)
        {
            int firstDifference = reference.Data(tensor).CommonPrefixLength(ours.Data(ours.GetTensor(tensor.Name)));
            Assert.True(firstDifference == tensor.ByteSize, $"{tensor.Name} ({tensor.Type}): first differing byte at {firstDifference} of {tensor.ByteSize}");
        }
        Assert.Equal(reference.Metadata.Select(kv => $"{kv.Key} = {Show(kv.Value)}"), ours.Metadata.Select(kv => $"{kv.Key} = {Show(kv.Value)}"));
    }

    static string Show(object value) => value is Array array ? $"{array.GetType().Name}[{string.Join("|", array.Cast<object>())}]" : $"{value.GetType().Name} {value}";

    /// <summary>Hugging Face folders with golden reference logits, and the llama.cpp-converted GGUF of the same model.</summary>
    public static TheoryData<string> HuggingFaceModels()
    {
        var data = new TheoryData<string>();
        foreach (var folder in Directory.GetDirectories(Golden.Path("models"), "*-hf").Order())
            if (File.Exists(Golden.Path("expected", Path.GetFileName(folder) + ".code.json")))
                data.Add(Path.GetFileName(folder));
        return data;
    }

    [Theory]
    [MemberData(nameof(HuggingFaceModels))]
    public void Hugging_Face_folder_becomes_a_gguf_with_the_reference_logits_and_vocabulary(string folder)
    {
        string output = Path.Combine(_directory, folder + ".gguf");
        ModelQuantizer.Quantize(Golden.Path("models", folder), output, QuantizationScheme.F32);

        // BF16 widened to F32 and the checkpoint conventions rewritten exactly: the folder's own reference must hold.
        var expected = GoldenCase.Load(folder, "code");
        using (var source = ModelSource.Open(output))
        using (var decoder = ModelRegistry.Load(source, new ModelOptions { Threads = 2 }))
        using (var sequence = decoder.CreateSequence())
        {
            var logits = new float[expected.PromptIds.Length * decoder.VocabSize];
            var batch = new ForwardBatch();
            batch.Add(sequence, expected.PromptIds, logitsForAll: true);
            decoder.Forward(batch, logits);
            double relativeRms = GoldenCase.RelativeRms(logits, expected.Logits);
            Assert.True(relativeRms <= expected.Tolerance, $"relative RMS {relativeRms:E3} exceeds {expected.Tolerance:E3}");
        }

        // The vocabulary as llama.cpp's converter wrote it into the GGUF files of the same model.
        string stem = folder[..^"-hf".Length];
        string converted = Directory.GetFiles(Golden.Path("models"), stem + "-f*.gguf").Order().First();
        using var ours = GgufFile.Open(output);
        using var reference = GgufFile.Open(converted);
        foreach (string key in new[] { "tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                     "tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.chat_template" })
            Assert.True(Show(reference.Metadata[key]) == Show(ours.Metadata[key]), $"{key} differs from {Path.GetFileName(converted)}");
        Assert.Equal(reference.Tensors.Select(t => t.Name).Order(), ours.Tensors.Select(t => t.Name).Order());
        // llama.cpp rejects a key of the wrong type (e.g. an i64 context_length where it reads a u32).
        foreach (var (key, value) in reference.Metadata.Where(kv => ours.Metadata.ContainsKey(kv.Key)))
            Assert.True(value.GetType() == ours.Metadata[key].GetType(), $"{key} is {ours.Metadata[key].GetType().Name}, llama.cpp's converter writes {value.GetType().Name}");
    }

    [Fact]
    public void Tokenizer_json_gives_the_vocabulary_keys_of_llama_cpp_converter()
    {
        using var reference = GgufFile.Open(Golden.Path("tokenizer", "qwen3-vocab.gguf"));
        int size = reference.Metadata.TryGetStringArray("tokenizer.ggml.tokens")!.Length;
        var ours = TokenizerMetadata.FromTokenizerJson(Golden.Path("tokenizer", "tokenizer.json"), size).ToDictionary(kv => kv.Key, kv => kv.Value);
        foreach (var (key, value) in reference.Metadata.Where(kv => kv.Key.StartsWith("tokenizer.", StringComparison.Ordinal)))
        {
            Assert.True(ours.ContainsKey(key), $"{key} is missing");
            Assert.True(Show(value) == Show(ours[key]), $"{key} differs");
        }
    }

    [Fact]
    public void Unknown_scheme_names_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => QuantizationScheme.Parse("q3_k_xl"));
        Assert.Contains("q3_k_xl", error.Message);
        Assert.Contains("Q4_K_M", error.Message);
    }
}
