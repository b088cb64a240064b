using System.Collections.Concurrent;
using System.Text.Json;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Text.Tokenization;

namespace ModelGrid.Engine.Tests.Tokenization;

/// <summary>
/// The golden tokenizer/ folder as test sources: tokenizer.json (with its own Split regex, or with the pre-tokenizer
/// a <c>cases-NAME-pre.jsonl</c> file is named for) and every vocabulary-only GGUF, each paired with the cases file of
/// its <c>tokenizer.ggml.pre</c>. Loaded tokenizers are shared between tests.
/// </summary>
static class GoldenTokenizers
{
    public const string TokenizerJson = "tokenizer.json";
    const string BaseCasesFile = "cases.jsonl";

    static readonly ConcurrentDictionary<string, ByteLevelBpeTokenizer> Loaded = new();

    public static string Folder => Golden.Path("tokenizer");

    /// <summary>(source, cases file): a source is tokenizer.json, tokenizer.json@KIND or a GGUF file name.</summary>
    public static IEnumerable<(string Source, string CasesFile)> SourcesWithCases()
    {
        var tokenizerJsonKind = ByteLevelBpeTokenizer.FromTokenizerJson(Path.Combine(Folder, TokenizerJson)).PreTokenizer;
        yield return (TokenizerJson, BaseCasesFile);
        foreach (string cases in Directory.EnumerateFiles(Folder, "cases-*-pre.jsonl").Select(Path.GetFileName).Order()!)
            yield return ($"{TokenizerJson}@{PreTokenizerNameOfCasesFile(cases!)}", cases!);
        foreach (string gguf in Directory.EnumerateFiles(Folder, "*.gguf").Select(Path.GetFileName).Order()!)
        {
            using var file = GgufFile.Open(Path.Combine(Folder, gguf!));
            var kind = QwenPreTokenizer.ParseGgufName(file.Metadata.GetString("tokenizer.ggml.pre"));
            yield return (gguf!, kind == tokenizerJsonKind ? BaseCasesFile : $"cases-{file.Metadata.GetString("tokenizer.ggml.pre")}-pre.jsonl");
        }
    }

    static string PreTokenizerNameOfCasesFile(string casesFile) => casesFile["cases-".Length..^"-pre.jsonl".Length];

    public static ByteLevelBpeTokenizer Get(string source) => Loaded.GetOrAdd(source, Load);

    static ByteLevelBpeTokenizer Load(string source)
    {
        if (source.EndsWith(".gguf", StringComparison.Ordinal))
        {
            using var file = GgufFile.Open(Path.Combine(Folder, source));
            return ByteLevelBpeTokenizer.FromGgufMetadata(file.Metadata);
        }
        string[] parts = source.Split('@');
        PreTokenizerKind? kind = parts.Length == 2 ? QwenPreTokenizer.ParseGgufName(parts[1]) : null;
        return ByteLevelBpeTokenizer.FromTokenizerJson(Path.Combine(Folder, TokenizerJson), Path.Combine(Folder, "tokenizer_config.json"), kind);
    }

    public sealed record TokenizerCase(string Text, int[] Ids, int[] IdsNoSpecial);

    public static int CaseCount(string casesFile) => File.ReadLines(Path.Combine(Folder, casesFile)).Count(line => line.Length > 0);

    public static TokenizerCase ReadCase(string casesFile, int index)
    {
        string line = File.ReadLines(Path.Combine(Folder, casesFile)).Where(l => l.Length > 0).ElementAt(index);
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        return new TokenizerCase(
            root.GetProperty("text").GetString()!,
            [.. root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())],
            [.. root.GetProperty("ids_no_special").EnumerateArray().Select(e => e.GetInt32())]);
    }
}
