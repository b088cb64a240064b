using System.Security.Cryptography;
using System.Text;
using ModelGrid.Hub.Api;
using ModelGrid.Hub.Metadata;
using ModelGrid.Hub.Repos;

namespace ModelGrid.Hub.Access;

/// <summary>Who is calling: anonymous, or a token's user with write access to some namespaces.</summary>
public sealed record Caller(string? User, IReadOnlyList<string> Namespaces)
{
    public static readonly Caller Anonymous = new(null, []);

    public bool CanWrite(string ns) => Namespaces.Contains(ns, StringComparer.OrdinalIgnoreCase);

    public bool CanRead(RepoRecord repo) => !repo.Private || CanWrite(repo.Name.Namespace);

    public string RequireUser() => User ?? throw HubException.Unauthorized("This action needs an access token (Authorization: Bearer hf_...)");

    /// <summary>Throws 401 without a token and 403 when the token does not cover <paramref name="repo"/>'s namespace.</summary>
    public void RequireWrite(RepoName repo)
    {
        RequireUser();
        if (!CanWrite(repo.Namespace))
            throw HubException.Forbidden($"Token of user '{User}' may not write to namespace '{repo.Namespace}'");
    }
}

/// <summary>
/// Access tokens: random, shown once, stored only as SHA-256. They start with <c>hf_</c> because the
/// Hugging Face clients refuse tokens that do not.
/// </summary>
public sealed class AccessTokens(IHubStore store)
{
    public async Task<string> CreateAsync(string user, IReadOnlyList<string> namespaces, CancellationToken ct)
    {
        if (!RepoName.IsValidPart(user))
            throw HubException.BadRequest($"Invalid user name '{user}'");
        foreach (var ns in namespaces)
        {
            if (!RepoName.IsValidPart(ns))
                throw HubException.BadRequest($"Invalid namespace '{ns}'");
        }
        var token = "hf_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        await store.AddTokenAsync(new TokenRecord(Hash(token), user, namespaces, DateTimeOffset.UtcNow), ct);
        return token;
    }

    /// <summary>The caller named by an <c>Authorization: Bearer</c> header; an unknown token is a 401, not anonymity.</summary>
    public async Task<Caller> AuthenticateAsync(string? authorization, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(authorization))
            return Caller.Anonymous;
        const string scheme = "Bearer ";
        if (!authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            throw HubException.Unauthorized("Authorization header must be 'Bearer <token>'");
        var record = await store.FindTokenAsync(Hash(authorization[scheme.Length..].Trim()), ct)
            ?? throw HubException.Unauthorized("Invalid access token");
        return new Caller(record.User, record.Namespaces);
    }

    static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
