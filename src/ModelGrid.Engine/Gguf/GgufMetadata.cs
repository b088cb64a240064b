using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace ModelGrid.Engine.Gguf;

/// <summary>
/// GGUF key/value metadata with typed getters that name the key (and its source) when a value is missing or
/// has the wrong type. Hugging Face configs are translated into the same keys, so models read one vocabulary.
/// </summary>
public sealed class GgufMetadata(IReadOnlyDictionary<string, object> values, string source) : IReadOnlyDictionary<string, object>
{
    public string Source => source;

    public string GetString(string key) => TryGetString(key) ?? throw Missing(key);

    public string? TryGetString(string key) => values.TryGetValue(key, out object? value)
        ? value as string ?? throw WrongType(key, "a string", value)
        : null;

    public long GetInteger(string key) => TryGetInteger(key) ?? throw Missing(key);

    public long? TryGetInteger(string key) => values.TryGetValue(key, out object? value) ? ToInt64(value, key) : null;

    public double GetFloat(string key) => TryGetFloat(key) ?? throw Missing(key);

    public double? TryGetFloat(string key) => values.TryGetValue(key, out object? value)
        ? value switch
        {
            float f => f,
            double d => d,
            _ => ToInt64(value, key),
        }
        : null;

    public bool? TryGetBool(string key) => values.TryGetValue(key, out object? value)
        ? value as bool? ?? throw WrongType(key, "a bool", value)
        : null;

    public string[]? TryGetStringArray(string key) => values.TryGetValue(key, out object? value)
        ? value as string[] ?? throw WrongType(key, "an array of strings", value)
        : null;

    /// <summary>An array of any integer element type, widened to long.</summary>
    public long[]? TryGetIntegerArray(string key)
    {
        if (!values.TryGetValue(key, out object? value))
            return null;
        if (value is not Array array || value is float[] or double[] or bool[] or string[] or object[])
            throw WrongType(key, "an array of integers", value);
        var result = new long[array.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = ToInt64(array.GetValue(i)!, key);
        return result;
    }

    public float[]? TryGetFloatArray(string key) => values.TryGetValue(key, out object? value)
        ? value as float[] ?? throw WrongType(key, "an array of float32", value)
        : null;

    internal static long ToInt64(object value, string key) => value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        ulong v => v <= long.MaxValue ? (long)v : throw new GgufFormatException($"metadata '{key}' value {v} is out of range"),
        long v => v,
        _ => throw WrongType(key, "an integer", value),
    };

    GgufFormatException Missing(string key) => new($"{source}: metadata '{key}' is missing");

    static GgufFormatException WrongType(string key, string expected, object actual) =>
        new($"metadata '{key}' should be {expected} but is {actual.GetType().Name}");

    public object this[string key] => values[key];
    public IEnumerable<string> Keys => values.Keys;
    public IEnumerable<object> Values => values.Values;
    public int Count => values.Count;
    public bool ContainsKey(string key) => values.ContainsKey(key);
    public bool TryGetValue(string key, [MaybeNullWhen(false)] out object value) => values.TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() => values.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => values.GetEnumerator();
}
