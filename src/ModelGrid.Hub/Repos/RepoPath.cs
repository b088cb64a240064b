using ModelGrid.Hub.Api;

namespace ModelGrid.Hub.Repos;

/// <summary>Validates file paths inside a repository, so that no path can name anything outside it.</summary>
public static class RepoPath
{
    public const int MaxLength = 1024;

    /// <summary>Returns the path unchanged if it is a safe relative path, else throws a 400 naming it.</summary>
    public static string Validate(string? path)
    {
        if (string.IsNullOrEmpty(path))
            throw HubException.BadRequest("File path is empty");
        if (path.Length > MaxLength)
            throw HubException.BadRequest($"File path is longer than {MaxLength} characters: '{path[..64]}...'");
        if (path.Contains('\\'))
            throw HubException.BadRequest($"File path '{path}' contains a backslash; use '/' as separator");
        if (path.StartsWith('/') || (path.Length >= 2 && path[1] == ':'))
            throw HubException.BadRequest($"File path '{path}' is absolute; paths are relative to the repository root");
        if (path.Any(char.IsControl))
            throw HubException.BadRequest($"File path '{path}' contains a control character");
        foreach (var segment in path.Split('/'))
        {
            if (segment is "" or "." or "..")
                throw HubException.BadRequest($"File path '{path}' has an empty, '.' or '..' segment");
        }
        if (path.Split('/')[0] == ".git")
            throw HubException.BadRequest($"File path '{path}' is inside '.git'");
        return path;
    }
}
