using ModelGrid.Engine.Models.Architectures;

namespace ModelGrid.Engine.Models;

/// <summary>Architecture names, as <c>general.architecture</c> spells them, mapped to the code that builds them.</summary>
public static class ModelRegistry
{
    static readonly Dictionary<string, Func<ModelSource, ModelOptions, DecoderModel>> Architectures = new(StringComparer.Ordinal)
    {
        ["qwen2"] = Qwen2.Load,
        ["qwen3"] = Qwen3.Load,
        ["qwen3moe"] = Qwen3Moe.Load,
        ["qwen3vl"] = Qwen3.Load,
        ["qwen3vlmoe"] = Qwen3Moe.Load,
        ["qwen35"] = Qwen35.Load,
        ["qwen35moe"] = Qwen35.Load,
    };

    public static IReadOnlyCollection<string> Supported => Architectures.Keys;

    public static bool IsSupported(string architecture) => Architectures.ContainsKey(architecture);

    public static DecoderModel Load(ModelSource source, ModelOptions options)
    {
        string architecture = source.Architecture;
        return Architectures.TryGetValue(architecture, out var load)
            ? load(source, options)
            : throw new UnsupportedArchitectureException(architecture, Architectures.Keys);
    }
}
