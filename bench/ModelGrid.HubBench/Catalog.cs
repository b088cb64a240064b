using System.Text.Json;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.HubBench;

/// <summary>One generated repository: what its model card and files would make the hub store.</summary>
sealed record CatalogModel(RepoName Name, ModelMetadata Metadata, IReadOnlyList<FileEntry> Files, int Depth);

/// <summary>
/// A synthetic hub shaped like the Hugging Face Hub's Qwen/Llama corner: ~2% base models from a few dozen
/// organizations; the rest fine-tunes, quantizations, adapters and merges by many users. Popular bases attract
/// most derivatives (Zipf), and fine-tunes and merges are themselves derived from, so chains run several levels deep.
/// </summary>
static class Catalog
{
    static readonly string[] Orgs =
    [
        "Qwen", "meta-llama", "mistralai", "google", "microsoft", "deepseek-ai", "01-ai", "tiiuae", "allenai", "nvidia",
        "ibm-granite", "HuggingFaceTB", "stabilityai", "internlm", "THUDM", "baichuan-inc", "openbmb", "bigcode", "Salesforce", "CohereForAI",
    ];
    static readonly (string Family, string ModelType, string Architecture, string License)[] Families =
    [
        ("Qwen3", "qwen3", "Qwen3ForCausalLM", "apache-2.0"), ("Qwen2.5", "qwen2", "Qwen2ForCausalLM", "apache-2.0"),
        ("Llama-3.1", "llama", "LlamaForCausalLM", "llama3.1"), ("Llama-3.2", "llama", "LlamaForCausalLM", "llama3.2"),
        ("Mistral", "mistral", "MistralForCausalLM", "apache-2.0"), ("gemma-2", "gemma2", "Gemma2ForCausalLM", "gemma"),
        ("Phi-3", "phi3", "Phi3ForCausalLM", "mit"), ("granite-3.1", "granite", "GraniteForCausalLM", "apache-2.0"),
    ];
    static readonly string[] Sizes = ["0.5B", "0.6B", "1.5B", "1.7B", "3B", "4B", "7B", "8B", "14B", "32B", "70B"];
    static readonly string[] Quants = ["Q4_K_M", "Q5_K_M", "Q8_0", "Q6_K", "IQ4_XS", "Q3_K_L"];
    static readonly string[] FreeTags = ["chat", "code", "math", "roleplay", "instruct", "conversational", "reasoning", "medical", "legal", "finance", "multilingual", "rag"];
    static readonly string[] Languages = ["en", "zh", "fr", "de", "es", "ja", "ko", "ru"];
    static readonly string[] TuneWords = ["instruct", "chat", "sft", "dpo", "orpo", "coder", "math", "rp", "uncensored", "distill", "reasoning", "hermes"];

    public const int MaxDepth = 7;

    public static List<CatalogModel> Generate(int count, int seed)
    {
        var random = new Random(seed);
        var baseCount = Math.Max(1, count / 50);
        var userCount = Math.Max(10, count / 5);
        var models = new List<CatalogModel>(count);
        var traits = new List<(int Family, long Parameters)>(count);  // inherited from the first parent
        var derivable = new List<int>();        // fine-tunes and merges: what people derive further from
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

        for (var i = 0; i < baseCount; i++)
        {
            var family = random.Next(Families.Length);
            var org = Orgs[Zipf(random, Orgs.Length, 1.0)];
            var variant = random.Next(3) switch { 0 => "", 1 => "-Instruct", _ => "-Base" };
            var size = Sizes[random.Next(Sizes.Length)];
            var parameters = (long)(double.Parse(size[..^1], System.Globalization.CultureInfo.InvariantCulture) * 1e9);
            var name = Unique(names, $"{org}/{Families[family].Family}-{size}{variant}");
            models.Add(Model(random, name, Families[family], parameters, [], "", 0, hasGguf: false));
            traits.Add((family, parameters));
        }
        while (models.Count < count)
        {
            var relation = random.NextDouble() switch { < 0.35 => "finetune", < 0.70 => "quantized", < 0.90 => "adapter", _ => "merge" };
            var parents = new List<int> { PickParent(random, baseCount, derivable, models) };
            if (relation == "merge")
                parents.Add(PickParent(random, baseCount, derivable, models));
            parents = [.. parents.Distinct()];
            var first = models[parents[0]];
            var (family, parameters) = traits[parents[0]];
            var user = $"user{Zipf(random, userCount, 0.8):D5}";
            var stem = (first.Name.Name.Length > 40 ? first.Name.Name[..40] : first.Name.Name).TrimEnd('-', '.', '_');
            var suffix = relation switch
            {
                "quantized" => "GGUF",
                "adapter" => "lora",
                "merge" => "merge",
                _ => TuneWords[random.Next(TuneWords.Length)],
            };
            var name = Unique(names, $"{user}/{stem}-{suffix}");
            var depth = parents.Max(p => models[p].Depth) + 1;
            var links = parents.Select(p => new BaseModelLink(models[p].Name.ToString(), relation)).ToList();
            var model = Model(random, name, Families[family], parameters, links, relation, depth, hasGguf: relation == "quantized");
            traits.Add((family, parameters));
            if (relation is "finetune" or "merge" && depth < MaxDepth)
                derivable.Add(models.Count);
            models.Add(model);
        }
        return models;
    }

    // Half the derivatives start from a base (popular ones far more often), half from an earlier fine-tune or merge.
    static int PickParent(Random random, int baseCount, List<int> derivable, List<CatalogModel> models) =>
        derivable.Count == 0 || random.NextDouble() < 0.5
            ? Zipf(random, baseCount, 1.1)
            : derivable[derivable.Count - 1 - Zipf(random, derivable.Count, 0.7)];

    static CatalogModel Model(Random random, string name, (string Family, string ModelType, string Architecture, string License) family,
        long parameters, List<BaseModelLink> bases, string relation, int depth, bool hasGguf)
    {
        var library = hasGguf ? "gguf" : relation == "adapter" ? "peft" : "transformers";
        var languages = random.Next(4) == 0 ? new[] { "en", Languages[1 + random.Next(Languages.Length - 1)] } : ["en"];
        var free = Enumerable.Range(0, random.Next(3)).Select(_ => FreeTags[random.Next(FreeTags.Length)]).Distinct().ToList();
        var tags = new List<string> { library, hasGguf ? "gguf" : "safetensors", family.ModelType };
        tags.AddRange(free);
        tags.AddRange(languages);
        tags.Add("text-generation");
        tags.Add($"license:{family.License}");
        foreach (var link in bases)
        {
            tags.Add($"base_model:{link.BaseModel}");
            tags.Add($"base_model:{link.Relation}:{link.BaseModel}");
        }
        var card = new Dictionary<string, object> { ["license"] = family.License, ["language"] = languages, ["tags"] = free };
        if (bases.Count > 0)
        {
            card["base_model"] = bases.Select(b => b.BaseModel).ToList();
            card["base_model_relation"] = relation;
        }
        var weights = hasGguf
            ? Quants.Take(1 + random.Next(3)).Select(q => new FileEntry($"{name.Split('/')[1]}-{q}.gguf", Sha(random), parameters / 2))
            : [new FileEntry("model.safetensors", Sha(random), parameters * 2)];
        return new CatalogModel(
            RepoName.Parse(name),
            new ModelMetadata
            {
                License = family.License,
                PipelineTag = "text-generation",
                LibraryName = library,
                Architecture = hasGguf ? null : family.Architecture,
                ModelType = family.ModelType,
                ParameterCount = hasGguf ? null : parameters,
                TensorTypes = hasGguf ? new Dictionary<string, long>() : new Dictionary<string, long> { ["BF16"] = parameters },
                Tags = [.. tags.Distinct(StringComparer.OrdinalIgnoreCase)],
                BaseModels = bases,
                CardDataJson = JsonSerializer.Serialize(card),
            },
            [new FileEntry("README.md", Sha(random), 2048), new FileEntry("config.json", Sha(random), 700), .. weights],
            depth);
    }

    static string Unique(HashSet<string> names, string name)
    {
        var candidate = name;
        for (var n = 2; !names.Add(candidate); n++)
            candidate = $"{name}-v{n}";
        return candidate;
    }

    static string Sha(Random random)
    {
        Span<byte> bytes = stackalloc byte[32];
        random.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    /// <summary>A rank in [0, n) with P(rank k) proportional to 1/(k+1)^s, by inverting the continuous approximation.</summary>
    public static int Zipf(Random random, int n, double s)
    {
        var u = random.NextDouble();
        double rank = Math.Abs(s - 1) < 1e-9
            ? Math.Exp(u * Math.Log(n + 1)) - 1
            : Math.Pow(u * (Math.Pow(n + 1, 1 - s) - 1) + 1, 1 / (1 - s)) - 1;
        return Math.Clamp((int)rank, 0, n - 1);
    }
}
