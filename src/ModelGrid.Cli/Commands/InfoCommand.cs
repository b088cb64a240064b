using System.CommandLine;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Quants;
using Spectre.Console;

namespace ModelGrid.Cli.Commands;

/// <summary><c>modelgrid info MODEL</c>: architecture, size, tensor types, context length, chat template, kernel path.</summary>
static class InfoCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "GGUF file, Hugging Face model folder, or a pulled repo" };
        var info = new Command("info", "Describe a model file without loading it");
        info.Arguments.Add(model);
        info.SetAction(parse =>
        {
            using var source = ModelSource.Open(ModelArguments.Resolve(parse.GetValue(model)!));
            var metadata = source.Metadata;
            string arch = source.Architecture;
            var tensors = source.TensorNames.Select(name => source.GetTensor(name)).ToList();
            long parameters = tensors.Sum(t => t.RowCount * t.RowLength);
            var table = new Table().AddColumns("property", "value").HideHeaders();
            table.AddRow("model", Markup.Escape(source.Name));
            table.AddRow("architecture", Markup.Escape(arch) + (ModelRegistry.IsSupported(arch) ? "" : " [red](not supported)[/]"));
            table.AddRow("parameters", $"{parameters:N0} ({parameters / 1e9:F2} B)");
            table.AddRow("layers", metadata.TryGetInteger($"{arch}.block_count")?.ToString() ?? "?");
            table.AddRow("embedding", metadata.TryGetInteger($"{arch}.embedding_length")?.ToString() ?? "?");
            table.AddRow("heads / kv heads", $"{metadata.TryGetInteger($"{arch}.attention.head_count")} / {metadata.TryGetInteger($"{arch}.attention.head_count_kv")}");
            table.AddRow("context length", metadata.TryGetInteger($"{arch}.context_length")?.ToString() ?? "?");
            table.AddRow("tensor types", string.Join(", ", tensors.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} x{g.Count()}")));
            table.AddRow("chat template", metadata.ContainsKey("tokenizer.chat_template") ? "yes" : "no");
            table.AddRow("kernels", string.Join(", ", tensors.Select(t => t.Type).Distinct().Order().Select(type => $"{type}: {RowKernels.PreferredPath(type)}")));
            AnsiConsole.Write(table);
            return 0;
        });
        return info;
    }
}
