using System.CommandLine;
using ModelGrid.Hub;

namespace ModelGrid.Cli.Commands;

/// <summary><c>modelgrid hub serve</c> runs a hub; <c>modelgrid hub token</c> issues write tokens for it.</summary>
static class HubCommand
{
    static Option<string> DataOption() => new("--data")
    {
        Description = "Hub data directory (metadata database and file store)",
        DefaultValueFactory = _ => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".modelgrid", "hub"),
    };

    static Option<string?> PostgresOption() => new("--postgres")
    {
        Description = "Keep metadata in PostgreSQL instead of DIR/hub.db (Npgsql connection string, e.g. \"Host=db;Database=hub;Username=hub\")",
    };

    public static Command Create()
    {
        var hub = new Command("hub", "Host a model hub compatible with Hugging Face Hub clients");
        hub.Subcommands.Add(Serve());
        hub.Subcommands.Add(Token());
        return hub;
    }

    static Command Serve()
    {
        var data = DataOption();
        var postgres = PostgresOption();
        var port = new Option<int>("--port") { Description = "TCP port", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var maxFile = new Option<long>("--max-file-size") { Description = "Largest file accepted, in bytes", DefaultValueFactory = _ => new HubOptions { DataDir = "" }.MaxFileSize };
        var serve = new Command("serve", "Serve the hub (SQLite metadata, or PostgreSQL with --postgres, and a local file store)");
        serve.Options.Add(data);
        serve.Options.Add(postgres);
        serve.Options.Add(port);
        serve.Options.Add(host);
        serve.Options.Add(maxFile);
        serve.SetAction(async (parseResult, ct) =>
        {
            var options = new HubOptions
            {
                DataDir = parseResult.GetValue(data)!,
                PostgresConnectionString = parseResult.GetValue(postgres),
                Url = $"http://{parseResult.GetValue(host)}:{parseResult.GetValue(port)}",
                MaxFileSize = parseResult.GetValue(maxFile),
            };
            await using var server = await HubServer.StartAsync(options, ct);
            Console.WriteLine($"ModelGrid hub serving {Path.GetFullPath(options.DataDir)} at {server.Url}");
            Console.WriteLine($"Clients: HF_ENDPOINT={server.Url}; create a write token with 'modelgrid hub token USER --data {options.DataDir}'");
            await server.WaitForShutdownAsync(ct);
            return 0;
        });
        return serve;
    }

    static Command Token()
    {
        var data = DataOption();
        var postgres = PostgresOption();
        var user = new Argument<string>("user") { Description = "User the token acts as" };
        var namespaces = new Option<string[]>("--namespace")
        {
            Description = "Namespace the token may write (repeatable; default: the user's own)",
            AllowMultipleArgumentsPerToken = true,
        };
        var token = new Command("token", "Create an access token (printed once; only its hash is stored)");
        token.Arguments.Add(user);
        token.Options.Add(data);
        token.Options.Add(postgres);
        token.Options.Add(namespaces);
        token.SetAction(async (parseResult, ct) =>
        {
            var name = parseResult.GetValue(user)!;
            var options = new HubOptions { DataDir = parseResult.GetValue(data)!, PostgresConnectionString = parseResult.GetValue(postgres) };
            using var services = await HubServices.OpenAsync(options, ct);
            var granted = parseResult.GetValue(namespaces) is { Length: > 0 } given ? given : [name];
            Console.WriteLine(await services.Tokens.CreateAsync(name, granted, ct));
            return 0;
        });
        return token;
    }
}
