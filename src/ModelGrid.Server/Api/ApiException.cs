namespace ModelGrid.Server.Api;

/// <summary>An error returned to the client as OpenAI's <c>{"error":{"message","type","param","code"}}</c>.</summary>
public sealed class ApiException(int status, string message, string? param = null, string? code = null, string type = "invalid_request_error")
    : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;
    public TimeSpan? RetryAfter { get; init; }

    public static ApiException Invalid(string param, string message) => new(400, $"{param}: {message}", param, "invalid_value");
}
