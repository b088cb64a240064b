namespace ModelGrid.Hub.Metadata;

/// <summary>A declared edge found below some models: <paramref name="Child"/> derives from <paramref name="Base"/>.</summary>
public sealed record ChildEdge(string Child, string Relation, string Base);

/// <summary>The descendants walk both stores share; each store only answers "which repos name these as base model".</summary>
static class LineageWalk
{
    /// <summary>
    /// Breadth-first from <paramref name="model"/>: the level where a model first appears is its nearest depth, and
    /// each model is expanded once. (A recursive query expands a model once per path that reaches it, and merges make
    /// the paths multiply: on the benchmark's largest tree that was a quarter of a second.) Levels are complete sets,
    /// so the walk stops at the level that fills the requested page.
    /// </summary>
    public static async Task<IReadOnlyList<LineageEdge>> DescendantsAsync(string model, LineagePage page,
        Func<IReadOnlyList<string>, Task<IReadOnlyList<ChildEdge>>> childrenOf)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { model };
        var found = new List<LineageEdge>();
        IReadOnlyList<string> frontier = [model];
        for (var depth = 1; depth <= page.MaxDepth && frontier.Count > 0 && found.Count < page.Offset + page.Limit; depth++)
        {
            // Reached from several models of the previous level: reported via the first of them by name.
            var level = (await childrenOf(frontier))
                .Where(e => !seen.Contains(e.Child))
                .GroupBy(e => e.Child, StringComparer.OrdinalIgnoreCase)
                .Select(g => g.MinBy(e => AsciiCase.Fold(e.Base), StringComparer.Ordinal)!)
                .ToList();
            foreach (var edge in level)
            {
                seen.Add(edge.Child);
                found.Add(new LineageEdge(edge.Child, edge.Relation, depth, edge.Base));
            }
            frontier = [.. level.Select(e => e.Child)];
        }
        return [.. found.OrderBy(e => e.Depth).ThenBy(e => AsciiCase.Fold(e.Model), StringComparer.Ordinal).Skip(page.Offset).Take(page.Limit)];
    }
}

/// <summary>Name comparison as both stores do it: ASCII letters case-insensitive, everything else exact.</summary>
static class AsciiCase
{
    /// <summary>ASCII lower case: the order both databases give names (SQLite NOCASE, PostgreSQL lower() COLLATE "C").</summary>
    public static string Fold(string text) => string.Create(text.Length, text, (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
            span[i] = char.IsAsciiLetterUpper(source[i]) ? (char)(source[i] | 0x20) : source[i];
    });
}
