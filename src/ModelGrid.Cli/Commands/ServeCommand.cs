using System.CommandLine;
using ModelGrid.Server;
using ModelGrid.Server.Chat;
using ModelGrid.Server.Hosting;

namespace ModelGrid.Cli.Commands;

/// <summary><c>modelgrid serve MODEL...</c>: the OpenAI-compatible API over one or more local models.</summary>
static class ServeCommand
{
    public static Command Create()
    {
        var models = new Argument<string[]>("model")
        {
            Description = "GGUF files, Hugging Face model folders or pulled repos (namespace/name[:QUANT]); requests name a file or "
                + "folder by its name without extension, a repo as given",
            Arity = ArgumentArity.OneOrMore,
        };
        var aliases = new Option<string[]>("--alias")
        {
            Description = "Names for the models, in order (repeatable)",
            AllowMultipleArgumentsPerToken = true,
        };
        var projectors = new Option<string[]>("--mmproj")
        {
            Description = "Vision projectors (mmproj GGUF) for the models, in order (repeatable; default: an mmproj-*.gguf beside each model; \"\" for none)",
            AllowMultipleArgumentsPerToken = true,
        };
        var allowRemoteImages = new Option<bool>("--allow-remote-images") { Description = "Fetch http(s) image URLs in requests (default: only inline data: URLs)" };
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port", DefaultValueFactory = _ => 8000 };
        var context = new Option<int?>("--ctx") { Description = "Context length per sequence (default: the model's)" };
        var parallel = new Option<int>("--parallel") { Description = "Sequences decoded together per model", DefaultValueFactory = _ => 4 };
        var kvBudget = new Option<long?>("--kv-budget") { Description = "KV-cache memory per model in MiB (default: room for --parallel full contexts twice over)" };
        var threads = new Option<int>("--threads") { Description = "Compute threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait for a slot before new ones get 429", DefaultValueFactory = _ => 64 };
        var serve = new Command("serve", "Serve models over the OpenAI-compatible API (chat, completions, embeddings)");
        serve.Arguments.Add(models);
        foreach (var option in (Option[])[aliases, projectors, host, port, context, parallel, kvBudget, threads, queue, allowRemoteImages])
            serve.Options.Add(option);
        serve.SetAction(async (parseResult, ct) =>
        {
            string[] paths = parseResult.GetValue(models)!;
            string[] names = parseResult.GetValue(aliases) ?? [];
            string[] mmproj = parseResult.GetValue(projectors) ?? [];
            if (names.Length > paths.Length || mmproj.Length > paths.Length)
            {
                Console.Error.WriteLine($"{Math.Max(names.Length, mmproj.Length)} aliases or projectors given for {paths.Length} models");
                return 2;
            }
            var options = new ServerOptions
            {
                Models = [.. paths.Select((path, i) => new ModelSpec(ModelArguments.Resolve(path),
                    i < names.Length ? names[i] : ModelArguments.IsPath(path) ? null : path,
                    i < mmproj.Length ? mmproj[i] : null))],
                Url = $"http://{parseResult.GetValue(host)}:{parseResult.GetValue(port)}",
                ContextLength = parseResult.GetValue(context),
                Parallel = parseResult.GetValue(parallel),
                KvBudgetMiB = parseResult.GetValue(kvBudget),
                Threads = parseResult.GetValue(threads),
                QueueLimit = parseResult.GetValue(queue),
                Images = new ImageInputOptions { AllowRemoteImages = parseResult.GetValue(allowRemoteImages) },
            };
            await using var server = await ModelServer.StartAsync(options, ct);
            foreach (var model in server.Catalog.Models)
                Console.WriteLine($"{model.Name}: {model.Model.Decoder.Architecture}, context {model.Scheduler.ContextLength}, " +
                    $"{model.Scheduler.KvBlocksTotal} KV blocks of {model.Scheduler.KvBytesPerBlock / 1024.0:0.#} KiB" +
                    (model.Model.Vision is { } vision ? $", images through {vision.Name}" : ""));
            Console.WriteLine($"ModelGrid serving the OpenAI API at {server.Url}/v1");
            await server.WaitForShutdownAsync(ct);
            return 0;
        });
        return serve;
    }
}
