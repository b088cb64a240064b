using System.Buffers.Binary;
using System.Text.Json;

namespace ModelGrid.Hub.Cards;

/// <summary>Reads the JSON header of a <c>.safetensors</c> file: tensor dtypes and shapes, without touching the data.</summary>
public static class SafetensorsHeader
{
    // The format caps the header at 100 MB; anything larger is not a safetensors file.
    const long MaxHeaderBytes = 100_000_000;

    /// <summary>Parameter count per dtype, or null if the stream is not a well-formed safetensors file.</summary>
    public static async Task<Dictionary<string, long>?> ReadParameterCountsAsync(Stream stream, string fileName, CancellationToken ct)
    {
        var prefix = new byte[8];
        if (await stream.ReadAtLeastAsync(prefix, 8, throwOnEndOfStream: false, ct) < 8)
            return null;
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes || (long)headerLength + 8 > stream.Length)
            return null;
        var header = new byte[headerLength];
        await stream.ReadExactlyAsync(header, ct);
        try
        {
            using var json = JsonDocument.Parse(header);
            var counts = new Dictionary<string, long>();
            foreach (var tensor in json.RootElement.EnumerateObject())
            {
                if (tensor.Name == "__metadata__")
                    continue;
                var dtype = tensor.Value.GetProperty("dtype").GetString()
                    ?? throw new FormatException($"{fileName}: tensor {tensor.Name} has no dtype");
                long elements = 1;
                foreach (var dim in tensor.Value.GetProperty("shape").EnumerateArray())
                    elements *= dim.GetInt64();
                counts[dtype] = counts.GetValueOrDefault(dtype) + elements;
            }
            return counts;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }
}
