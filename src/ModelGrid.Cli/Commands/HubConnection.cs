using System.CommandLine;
using ModelGrid.Hub.Client;

namespace ModelGrid.Cli.Commands;

/// <summary>The <c>--hub</c> and <c>--token</c> options push and pull share, with their environment defaults.</summary>
static class HubConnection
{
    public static Option<string> HubOption() => new("--hub")
    {
        Description = "Hub URL (a ModelGrid hub, https://huggingface.co or https://www.modelscope.cn); default $MODELGRID_HUB, else $HF_ENDPOINT, else http://127.0.0.1:8080",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MODELGRID_HUB")
            ?? Environment.GetEnvironmentVariable("HF_ENDPOINT") ?? "http://127.0.0.1:8080",
    };

    public static Option<string?> TokenOption() => new("--token")
    {
        Description = "Access token; default $MODELGRID_TOKEN, else $HF_TOKEN",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("MODELGRID_TOKEN") ?? Environment.GetEnvironmentVariable("HF_TOKEN"),
    };

    public static HubClient Client(string hubUrl, string? token, HubApi api = HubApi.HuggingFace, int? connections = null) =>
        new(new HttpClient { BaseAddress = new Uri(hubUrl.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan }, token, api)
        {
            Connections = connections,
        };
}
