using ModelGrid.Server.Api;

namespace ModelGrid.Server.Chat;

/// <summary>Where request images may come from and how large they may be.</summary>
public sealed record ImageInputOptions
{
    /// <summary>Bytes of one image file at most, whether sent inline or fetched.</summary>
    public long MaxImageBytes { get; init; } = 20 << 20;

    /// <summary>
    /// Whether <c>http(s)://</c> image URLs are fetched. Off by default: a server that fetches any URL a client names can
    /// be made to reach hosts only it can see.
    /// </summary>
    public bool AllowRemoteImages { get; init; }

    /// <summary>How long fetching one remote image may take.</summary>
    public TimeSpan RemoteImageTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Turns the URL of an image content part into the image file's bytes: <c>data:</c> URLs are decoded, remote URLs
/// fetched only when <see cref="ImageInputOptions.AllowRemoteImages"/> says so. Every failure is a 400 naming the field.
/// </summary>
public sealed class ImageLoader(ImageInputOptions options) : IDisposable
{
    readonly Lazy<HttpClient> _http = new(() => new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = true, MaxAutomaticRedirections = 3 })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    });

    public ImageInputOptions Options => options;

    /// <param name="url">The part's URL: <c>data:image/png;base64,...</c>, or <c>http(s)://...</c> when enabled.</param>
    /// <param name="param">The request field holding it, for error messages.</param>
    public async Task<byte[]> LoadAsync(string url, string param, CancellationToken ct)
    {
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            return DecodeDataUrl(url, param);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw ApiException.Invalid(param, "must be a data: URL (data:image/png;base64,...) or an http(s) URL");
        if (!options.AllowRemoteImages)
            throw new ApiException(400, $"{param}: remote image URLs are not fetched by this server; send the image inline as a data: URL " +
                "(data:image/png;base64,...), or start the server with --allow-remote-images", param, "remote_images_disabled");
        return await FetchAsync(uri, param, ct);
    }

    byte[] DecodeDataUrl(string url, string param)
    {
        int comma = url.IndexOf(',');
        if (comma < 0)
            throw ApiException.Invalid(param, "is a data: URL without a ',' before its data");
        var header = url.AsSpan(5, comma - 5);
        if (!header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw ApiException.Invalid(param, "must be a base64 data: URL (data:image/png;base64,...)");
        var data = url.AsSpan(comma + 1);
        long decodedAtMost = (data.Length + 3L) / 4 * 3;
        if (decodedAtMost > options.MaxImageBytes + 2)
            throw TooLarge(param);
        var bytes = new byte[decodedAtMost];
        if (!Convert.TryFromBase64Chars(data, bytes, out int written))
            throw ApiException.Invalid(param, "the data of the data: URL is not valid base64");
        if (written > options.MaxImageBytes)
            throw TooLarge(param);
        return bytes[..written];
    }

    async Task<byte[]> FetchAsync(Uri uri, string param, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.RemoteImageTimeout);
        try
        {
            using var response = await _http.Value.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if (!response.IsSuccessStatusCode)
                throw ApiException.Invalid(param, $"fetching {uri} gave HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            if (response.Content.Headers.ContentLength > options.MaxImageBytes)
                throw TooLarge(param);
            await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
            using var file = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = await body.ReadAsync(buffer, timeout.Token)) > 0)
            {
                if (file.Length + read > options.MaxImageBytes)
                    throw TooLarge(param);
                file.Write(buffer, 0, read);
            }
            return file.ToArray();
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw ApiException.Invalid(param, $"fetching {uri} took longer than {options.RemoteImageTimeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            throw ApiException.Invalid(param, $"fetching {uri} failed: {e.Message}");
        }
    }

    ApiException TooLarge(string param) =>
        new(400, $"{param}: the image is larger than the limit of {options.MaxImageBytes} bytes", param, "image_too_large");

    public void Dispose()
    {
        if (_http.IsValueCreated)
            _http.Value.Dispose();
    }
}
