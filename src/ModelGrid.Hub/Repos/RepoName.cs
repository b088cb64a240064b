using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;
using ModelGrid.Hub.Api;

namespace ModelGrid.Hub.Repos;

/// <summary>A repository's <c>namespace/name</c>, validated by the rules the Hugging Face Hub applies.</summary>
public sealed partial record RepoName(string Namespace, string Name)
{
    // Letters, digits, '-', '_', '.'; no leading/trailing separator, no "--" or "..", at most 96 characters.
    [GeneratedRegex(@"^(?!.*(--|\.\.))[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")]
    private static partial Regex PartPattern();

    public override string ToString() => $"{Namespace}/{Name}";

    public static bool IsValidPart(string part) =>
        PartPattern().IsMatch(part) && !part.EndsWith(".git", StringComparison.OrdinalIgnoreCase);

    public static bool TryParse(string? text, [NotNullWhen(true)] out RepoName? name)
    {
        name = null;
        var slash = text?.IndexOf('/') ?? -1;
        if (text is null || slash < 0)
            return false;
        return TryCreate(text[..slash], text[(slash + 1)..], out name);
    }

    public static bool TryCreate(string ns, string repo, [NotNullWhen(true)] out RepoName? name)
    {
        name = IsValidPart(ns) && IsValidPart(repo) ? new RepoName(ns, repo) : null;
        return name is not null;
    }

    /// <summary>Parses <c>namespace/name</c> or throws a 400 naming the offending text.</summary>
    public static RepoName Parse(string ns, string repo) =>
        TryCreate(ns, repo, out var name)
            ? name
            : throw HubException.BadRequest(
                $"Invalid repository name '{ns}/{repo}': each part must be 1-96 letters, digits, '-', '_' or '.', " +
                "start and end with a letter or digit, and not contain '--' or '..'");

    public static RepoName Parse(string text) =>
        TryParse(text, out var name)
            ? name
            : throw HubException.BadRequest($"Invalid repository name '{text}': expected 'namespace/name'");
}
