using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>
/// Python's <c>json.dumps</c>, which Hugging Face's <c>tojson</c> filter calls with <c>ensure_ascii=False</c>
/// (unlike jinja2's own filter, no HTML escaping): separators <c>", "</c> and <c>": "</c>, or <c>","</c> between
/// items when indenting; floats as Python's repr.
/// </summary>
internal sealed class PythonJson
{
    readonly string? indent;
    readonly string itemSeparator;
    readonly string keySeparator;
    readonly bool sortKeys;
    readonly bool ensureAscii;
    readonly int maxLength;
    readonly StringBuilder output = new();

    PythonJson(string? indent, string itemSeparator, string keySeparator, bool sortKeys, bool ensureAscii, int maxLength)
    {
        this.indent = indent;
        this.itemSeparator = itemSeparator;
        this.keySeparator = keySeparator;
        this.sortKeys = sortKeys;
        this.ensureAscii = ensureAscii;
        this.maxLength = maxLength;
    }

    /// <param name="indent">null for one line; otherwise the text repeated per nesting level after each newline.</param>
    /// <param name="separators">item and key separators; null for Python's defaults.</param>
    /// <param name="maxLength">output beyond this many characters aborts (a limit, not a Python behaviour).</param>
    public static string Dumps(object? value, string? indent, (string Item, string Key)? separators, bool sortKeys, bool ensureAscii, int maxLength)
    {
        var (item, key) = separators ?? (indent is null ? (", ", ": ") : (",", ": "));
        var writer = new PythonJson(indent, item, key, sortKeys, ensureAscii, maxLength);
        writer.Write(value, 0);
        return writer.output.ToString();
    }

    void Write(object? value, int level)
    {
        if (output.Length > maxLength)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"tojson output exceeds the limit of {maxLength} characters");
        switch (value)
        {
            case null: output.Append("null"); break;
            case bool b: output.Append(b ? "true" : "false"); break;
            case long l: output.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: output.Append(FloatText(d)); break;
            case string s: WriteString(s); break;
            case List<object?> or object?[]: WriteArray((IReadOnlyList<object?>)value, level); break;
            case PyDict dict: WriteObject(dict, level); break;
            default: throw TemplateRuntimeException.Runtime($"Object of type {PythonValues.TypeName(value)} is not JSON serializable");
        }
    }

    static string FloatText(double d) => double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : PythonText.FloatRepr(d);

    void WriteArray(IReadOnlyList<object?> items, int level)
    {
        if (items.Count == 0)
        {
            output.Append("[]");
            return;
        }
        output.Append('[');
        for (int i = 0; i < items.Count; i++)
        {
            output.Append(i == 0 ? "" : itemSeparator);
            NewLine(level + 1);
            Write(items[i], level + 1);
        }
        NewLine(level);
        output.Append(']');
    }

    void WriteObject(PyDict dict, int level)
    {
        if (dict.Count == 0)
        {
            output.Append("{}");
            return;
        }
        IEnumerable<KeyValuePair<object, object?>> pairs = dict;
        if (sortKeys)
        {
            pairs = PythonValues.SortStable(dict.ToList(), pair => PyDict.FromKey(pair.Key), reverse: false);
        }
        output.Append('{');
        bool first = true;
        foreach (var (key, item) in pairs)
        {
            output.Append(first ? "" : itemSeparator);
            first = false;
            NewLine(level + 1);
            WriteString(KeyText(PyDict.FromKey(key)));
            output.Append(keySeparator);
            Write(item, level + 1);
        }
        NewLine(level);
        output.Append('}');
    }

    static string KeyText(object? key) => key switch
    {
        string s => s,
        null => "null",
        bool b => b ? "true" : "false",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatText(d),
        _ => throw TemplateRuntimeException.Runtime($"keys must be str, int, float, bool or None, not {PythonValues.TypeName(key)}"),
    };

    void NewLine(int level)
    {
        if (indent is null)
            return;
        output.Append('\n');
        for (int i = 0; i < level; i++)
            output.Append(indent);
    }

    void WriteString(string s)
    {
        output.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': output.Append("\\\""); break;
                case '\\': output.Append("\\\\"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                default:
                    if (c < ' ' || (ensureAscii && c > '~'))
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        output.Append(c);
                    break;
            }
        }
        output.Append('"');
    }
}
