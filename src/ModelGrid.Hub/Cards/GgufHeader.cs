using ModelGrid.Engine.Gguf;
using ModelGrid.Hub.Metadata;

namespace ModelGrid.Hub.Cards;

/// <summary>Reads what the Hub shows of a GGUF file (architecture, parameter count, context length, tensor types) from its header.</summary>
public static class GgufHeader
{
    /// <summary>
    /// The summary of the GGUF file at <paramref name="path"/>, or null if it is not a well-formed GGUF file.
    /// The engine's reader maps the file read-only and parses only the header, so only the header's pages are read.
    /// </summary>
    public static GgufInfo? Read(string path)
    {
        try
        {
            using var gguf = GgufFile.Open(path);
            var architecture = gguf.Metadata.TryGetString("general.architecture");
            var tensorTypes = gguf.Tensors
                .GroupBy(t => t.Type.ToString())
                .ToDictionary(g => g.Key, g => g.Sum(t => t.ElementCount));
            return new GgufInfo(
                architecture,
                tensorTypes.Values.Sum(),
                architecture is null ? null : gguf.Metadata.TryGetInteger($"{architecture}.context_length"),
                tensorTypes);
        }
        catch (GgufFormatException)
        {
            return null;
        }
    }
}
