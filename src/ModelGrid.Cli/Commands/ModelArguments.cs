using System.CommandLine;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Cli.Commands;

/// <summary>The model argument and the loading and sampling options that run, chat and bench share.</summary>
sealed class ModelArguments
{
    public Argument<string> Model { get; } = new("model") { Description = "GGUF file, Hugging Face model folder, or a pulled repo (namespace/name[:QUANT])" };
    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "Compute threads", DefaultValueFactory = _ => Environment.ProcessorCount };
    public Option<int?> Context { get; } = new("--ctx", "-c") { Description = "Context length (default: the model's)" };
    public Option<string?> Projector { get; } = new("--mmproj") { Description = "Vision tower (mmproj GGUF); default: an mmproj-*.gguf beside the model" };

    public void AddTo(Command command)
    {
        command.Arguments.Add(Model);
        command.Options.Add(Threads);
        command.Options.Add(Context);
        command.Options.Add(Projector);
    }

    public LanguageModel Load(ParseResult parse) => LanguageModel.Load(
        Resolve(parse.GetValue(Model)!),
        new ModelOptions
        {
            Threads = Math.Max(1, parse.GetValue(Threads)),
            ContextLength = parse.GetValue(Context),
            MultimodalProjector = parse.GetValue(Projector),
        });

    /// <summary>Whether <paramref name="model"/> names a file or folder rather than a pulled repo.</summary>
    public static bool IsPath(string model) => File.Exists(model) || Directory.Exists(model);

    /// <summary>
    /// A path as given, or a repo pulled into the local cache: <c>namespace/name</c> picks its only GGUF file or the
    /// folder itself; <c>namespace/name:QUANT</c> picks the GGUF whose name contains QUANT.
    /// </summary>
    public static string Resolve(string model)
    {
        if (IsPath(model))
            return model;
        int colon = model.IndexOf(':');
        string repo = colon < 0 ? model : model[..colon];
        string? quant = colon < 0 ? null : model[(colon + 1)..];
        if (!RepoName.TryParse(repo, out var name))
            throw new FileNotFoundException($"model not found: '{model}' is not a file, a folder or a repo name");
        string folder = PullCommand.CacheDirectory(name);
        if (!Directory.Exists(folder))
            throw new FileNotFoundException($"model not found: '{model}' is not a file or folder, and {repo} is not in the cache ({folder}); run `modelgrid pull {model}` first");
        var ggufs = Directory.GetFiles(folder, "*.gguf", SearchOption.AllDirectories)
            .Where(f => quant is null || Path.GetFileName(f).Contains(quant, StringComparison.OrdinalIgnoreCase))
            .Where(f => !Path.GetFileName(f).StartsWith("mmproj", StringComparison.OrdinalIgnoreCase))
            .ToArray();
        return ggufs.Length switch
        {
            1 => ggufs[0],
            0 when quant is null && File.Exists(Path.Combine(folder, "config.json")) => folder,
            0 => throw new FileNotFoundException($"no GGUF file{(quant is null ? "" : $" matching '{quant}'")} in {folder}"),
            _ => throw new ArgumentException($"{repo} has several GGUF files ({string.Join(", ", ggufs.Select(Path.GetFileName))}); name one as {repo}:QUANT"),
        };
    }
}

/// <summary>Sampling and stopping options, spelled as llama.cpp's tools spell them.</summary>
sealed class SamplingArguments
{
    public Option<int> MaxTokens { get; } = new("--n-predict", "-n") { Description = "Tokens to generate", DefaultValueFactory = _ => 256 };
    public Option<float> Temperature { get; } = new("--temp") { Description = "Temperature; 0 = greedy", DefaultValueFactory = _ => 0.8f };
    public Option<int> TopK { get; } = new("--top-k") { Description = "Top-k (0 = off)", DefaultValueFactory = _ => 40 };
    public Option<float> TopP { get; } = new("--top-p") { Description = "Top-p (1 = off)", DefaultValueFactory = _ => 0.95f };
    public Option<float> MinP { get; } = new("--min-p") { Description = "Min-p (0 = off)", DefaultValueFactory = _ => 0.05f };
    public Option<float> RepeatPenalty { get; } = new("--repeat-penalty") { Description = "Repetition penalty (1 = off)", DefaultValueFactory = _ => 1f };
    public Option<float> PresencePenalty { get; } = new("--presence-penalty") { Description = "Presence penalty" };
    public Option<float> FrequencyPenalty { get; } = new("--frequency-penalty") { Description = "Frequency penalty" };
    public Option<ulong?> Seed { get; } = new("--seed", "-s") { Description = "Random seed (same seed, same output)" };
    public Option<string[]> Stop { get; } = new("--stop") { Description = "Stop string (repeatable)", AllowMultipleArgumentsPerToken = false };
    public Option<bool> IgnoreEos { get; } = new("--ignore-eos") { Description = "Do not stop at end-of-generation tokens" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { MaxTokens, Temperature, TopK, TopP, MinP, RepeatPenalty, PresencePenalty, FrequencyPenalty, Seed, Stop, IgnoreEos })
            command.Options.Add(option);
    }

    public GenerationOptions Read(ParseResult parse)
    {
        var sampling = new SamplingOptions
        {
            Temperature = parse.GetValue(Temperature),
            TopK = parse.GetValue(TopK),
            TopP = parse.GetValue(TopP),
            MinP = parse.GetValue(MinP),
            RepetitionPenalty = parse.GetValue(RepeatPenalty),
            PresencePenalty = parse.GetValue(PresencePenalty),
            FrequencyPenalty = parse.GetValue(FrequencyPenalty),
            Seed = parse.GetValue(Seed),
        };
        sampling.Validate();
        return new GenerationOptions
        {
            MaxTokens = parse.GetValue(MaxTokens),
            Sampling = sampling,
            Stop = parse.GetValue(Stop) ?? [],
            IgnoreEndOfGeneration = parse.GetValue(IgnoreEos),
        };
    }
}
