using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ModelGrid.Hub.Api;

namespace ModelGrid.Hub.Access;

/// <summary>
/// Signed, expiring upload URLs. The Hugging Face clients PUT file content to the URL the LFS batch call
/// returns without sending their token, so the URL itself carries the permission (as a pre-signed S3 URL does).
/// </summary>
public sealed class UploadTickets(byte[] key, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);

    public static UploadTickets LoadOrCreate(string keyPath)
    {
        if (!File.Exists(keyPath))
        {
            File.WriteAllBytes(keyPath, RandomNumberGenerator.GetBytes(32));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new UploadTickets(File.ReadAllBytes(keyPath), TimeProvider.System);
    }

    /// <summary>The query string (without '?') that authorises one upload of <paramref name="sha256"/> into <paramref name="repo"/>.</summary>
    public string Issue(string repo, string sha256, long size)
    {
        var expires = (clock.GetUtcNow() + Lifetime).ToUnixTimeSeconds();
        return $"repo={Uri.EscapeDataString(repo)}&size={size}&expires={expires}&signature={Sign(repo, sha256, size, expires)}";
    }

    public void Verify(string? repo, string sha256, long size, string? expires, string? signature)
    {
        if (repo is null || signature is null || !long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var expiresAt))
            throw HubException.Unauthorized("Upload URL is missing its repo, expires or signature parameter");
        if (clock.GetUtcNow().ToUnixTimeSeconds() > expiresAt)
            throw HubException.Unauthorized("Upload URL has expired; request a new one from the LFS batch endpoint");
        var expected = Encoding.ASCII.GetBytes(Sign(repo, sha256, size, expiresAt));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature)))
            throw HubException.Unauthorized("Upload URL signature does not match its object, size or repository");
    }

    string Sign(string repo, string sha256, long size, long expires) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{repo}\n{sha256}\n{size}\n{expires}")));
}
