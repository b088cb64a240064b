using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Metadata;

public sealed record CommitRecord(string Id, string? ParentId, string Title, string Message, string Author, DateTimeOffset Time);

/// <summary>One file of a revision: its path and the content-addressed blob it names.</summary>
public sealed record FileEntry(string Path, string Sha256, long Size);

public enum RefKind { Branch, Tag }

public sealed record RefRecord(RefKind Kind, string Name, string CommitId);

/// <summary>A declared <c>base_model</c> edge: this model derives from <paramref name="BaseModel"/> by <paramref name="Relation"/>.</summary>
public sealed record BaseModelLink(string BaseModel, string Relation);

/// <summary>What a GGUF header says (the Hub's <c>gguf</c> field): architecture, parameter count, context length, tensor types.</summary>
public sealed record GgufInfo(string? Architecture, long Total, long? ContextLength, IReadOnlyDictionary<string, long> TensorTypes);

/// <summary>What the hub reads from a revision's model card, config.json and weight headers.</summary>
public sealed record ModelMetadata
{
    public string? License { get; init; }
    public string? PipelineTag { get; init; }
    public string? LibraryName { get; init; }
    public string? Architecture { get; init; }
    public string? ModelType { get; init; }
    /// <summary>From the safetensors headers, else from the GGUF header.</summary>
    public long? ParameterCount { get; init; }
    /// <summary>Parameter count per safetensors dtype (F16, BF16, …).</summary>
    public IReadOnlyDictionary<string, long> TensorTypes { get; init; } = new Dictionary<string, long>();
    /// <summary>From the header of the revision's first GGUF file (by path), if it has one that parses.</summary>
    public GgufInfo? Gguf { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = [];
    public IReadOnlyList<BaseModelLink> BaseModels { get; init; } = [];
    /// <summary>The README front matter as JSON (the Hub's <c>cardData</c>), or null without a card.</summary>
    public string? CardDataJson { get; init; }
}

public sealed record RepoRecord(
    long Id,
    RepoName Name,
    bool Private,
    DateTimeOffset CreatedAt,
    DateTimeOffset LastModified,
    string? MainCommitId,
    long Downloads,
    long Likes,
    ModelMetadata Metadata);

/// <summary>One step of a lineage walk: <paramref name="Model"/> is reached from <paramref name="Via"/> at <paramref name="Depth"/>.</summary>
public sealed record LineageEdge(string Model, string Relation, int Depth, string Via);

/// <summary>Which part of a lineage walk to return: edges up to <paramref name="MaxDepth"/>, ordered by depth then id, paged.</summary>
public sealed record LineagePage(int MaxDepth, int Limit, int Offset);

public enum ModelSort { Downloads, Likes, LastModified, CreatedAt, Id, Parameters }

/// <summary>A search over models; every criterion given must hold.</summary>
public sealed record ModelQuery
{
    public string? Search { get; init; }
    public string? Author { get; init; }
    /// <summary>Tags that must all be present (library, architecture, <c>base_model:…</c>, license:…, free tags).</summary>
    public IReadOnlyList<string> Tags { get; init; } = [];
    public ModelSort Sort { get; init; } = ModelSort.Downloads;
    public bool Descending { get; init; } = true;
    public int Limit { get; init; } = 100;
    public int Offset { get; init; }
    /// <summary>Namespaces whose private repositories the caller may see.</summary>
    public IReadOnlyCollection<string> VisibleNamespaces { get; init; } = [];
}

/// <summary>An access token as stored: only its SHA-256 is kept.</summary>
public sealed record TokenRecord(string TokenSha256, string User, IReadOnlyList<string> Namespaces, DateTimeOffset CreatedAt);
