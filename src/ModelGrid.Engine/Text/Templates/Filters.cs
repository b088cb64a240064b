using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>jinja2's built-in filters that chat templates use, with Hugging Face's <c>tojson</c> in place of jinja2's.</summary>
internal static class Filters
{
    delegate object? Filter(Renderer renderer, object? value, CallArguments args);

    static readonly Dictionary<string, Filter> All = new()
    {
        ["abs"] = (_, value, args) => Simple(args, "abs", value switch
        {
            long l => l == long.MinValue ? throw TemplateRuntimeException.Runtime("integer overflow in abs") : (object)Math.Abs(l),
            bool b => b ? 1L : 0L,
            double d => Math.Abs(d),
            _ => throw TemplateRuntimeException.Runtime($"bad operand type for abs(): '{PythonValues.TypeName(value)}'"),
        }),
        ["attr"] = (_, value, args) =>
        {
            args.Expect("attr", "name");
            return Operators.GetAttribute(value, Methods.RequireString(args.Get(0, "name"), "attr"));
        },
        ["capitalize"] = (_, value, args) => Simple(args, "capitalize", Methods.Capitalize(PythonValues.Str(value))),
        ["center"] = (_, value, args) =>
        {
            args.Expect("center", "width");
            return Methods.Center(PythonValues.Str(value), Methods.RequireInteger(args.Get(0, "width", 80L), "center"), " ");
        },
        ["count"] = Length,
        ["length"] = Length,
        ["default"] = Default,
        ["d"] = Default,
        ["dictsort"] = DictSort,
        ["escape"] = Escape,
        ["e"] = Escape,
        ["first"] = (_, value, args) =>
        {
            IReadOnlyList<object?> items = PythonValues.Iterate(value);
            return Simple(args, "first", items.Count > 0 ? items[0] : new Undefined("No first item, sequence was empty."));
        },
        ["last"] = (_, value, args) =>
        {
            IReadOnlyList<object?> items = PythonValues.Iterate(value);
            return Simple(args, "last", items.Count > 0 ? items[^1] : new Undefined("No last item, sequence was empty."));
        },
        ["float"] = ToFloat,
        ["format"] = (_, value, args) =>
        {
            if (args.Positional.Count > 0 && args.Named.Count > 0)
                throw TemplateRuntimeException.Runtime("can't handle positional and keyword arguments at the same time");
            object? values = args.Named.Count > 0 ? MakeDict(args.Named) : args.Positional.ToArray();
            return PythonFormat.Percent(PythonValues.Str(value), values);
        },
        ["int"] = ToInteger,
        ["indent"] = Indent,
        ["items"] = (_, value, args) => Simple(args, "items", value switch
        {
            Undefined => new List<object?>(),
            PyDict dict => dict.Select(pair => (object?)new[] { PyDict.FromKey(pair.Key), pair.Value }).ToList(),
            _ => throw TemplateRuntimeException.Runtime("Can only get item pairs from a mapping."),
        }),
        ["join"] = Join,
        ["list"] = (_, value, args) => Simple(args, "list", PythonValues.Iterate(value).ToList()),
        ["lower"] = (_, value, args) => Simple(args, "lower", PythonValues.Str(value).ToLowerInvariant()),
        ["upper"] = (_, value, args) => Simple(args, "upper", PythonValues.Str(value).ToUpperInvariant()),
        ["map"] = Map,
        ["max"] = (_, value, args) => Extreme(value, args, "max", pickLarger: true),
        ["min"] = (_, value, args) => Extreme(value, args, "min", pickLarger: false),
        ["replace"] = (renderer, value, args) =>
        {
            args.Expect("replace", "old", "new", "count");
            string result = Methods.Replace(PythonValues.Str(value), PythonValues.Str(args.Get(0, "old")), PythonValues.Str(args.Get(1, "new")),
                args.Get(2, "count") is null ? -1 : Methods.RequireInteger(args.Get(2, "count"), "replace"));
            return Operators.CheckLength(result, renderer.Limits.MaxOutputLength);
        },
        ["reverse"] = (_, value, args) => Simple(args, "reverse", value switch
        {
            string s => string.Concat(PythonText.CodePoints(s).Cast<string>().Reverse()),
            _ => PythonValues.Iterate(value).Reverse().ToList(),
        }),
        ["round"] = Round,
        ["safe"] = (_, value, args) => Simple(args, "safe", value),
        ["select"] = (renderer, value, args) => Select(renderer, value, args, "select", byAttribute: false, keep: true),
        ["reject"] = (renderer, value, args) => Select(renderer, value, args, "reject", byAttribute: false, keep: false),
        ["selectattr"] = (renderer, value, args) => Select(renderer, value, args, "selectattr", byAttribute: true, keep: true),
        ["rejectattr"] = (renderer, value, args) => Select(renderer, value, args, "rejectattr", byAttribute: true, keep: false),
        ["sort"] = Sort,
        ["string"] = (_, value, args) => Simple(args, "string", PythonValues.Str(value)),
        ["sum"] = Sum,
        ["title"] = (_, value, args) => Simple(args, "title", Title(PythonValues.Str(value))),
        ["tojson"] = ToJson,
        ["trim"] = (_, value, args) =>
        {
            args.Expect("trim", "chars");
            object? chars = args.Get(0, "chars");
            return PythonText.Strip(PythonValues.Str(value), chars is null ? null : Methods.RequireString(chars, "trim"));
        },
        ["unique"] = Unique,
    };

    public static bool Has(string name) => All.ContainsKey(name);

    public static object? Apply(Renderer renderer, string name, object? value, CallArguments args) => All[name](renderer, value, args);

    static object? Simple(CallArguments args, string name, object? result)
    {
        args.Expect(name);
        return result;
    }

    static object? Length(Renderer renderer, object? value, CallArguments args) => Simple(args, "length", PythonValues.Length(value));

    static object? Default(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("default", "default_value", "boolean");
        bool replace = value is Undefined || (PythonValues.IsTruthy(args.Get(1, "boolean", false)) && !PythonValues.IsTruthy(value));
        return replace ? args.Get(0, "default_value", "") : value;
    }

    static object? Escape(Renderer renderer, object? value, CallArguments args) => Simple(args, "escape", PythonValues.Str(value)
        .Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;"));

    static object? DictSort(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("dictsort", "case_sensitive", "by", "reverse");
        if (value is not PyDict dict)
            throw TemplateRuntimeException.Runtime("dictsort needs a mapping");
        bool caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        int position = args.Get(1, "by", "key") switch
        {
            "key" => 0,
            "value" => 1,
            var other => throw TemplateRuntimeException.Runtime($"You can only sort by either \"key\" or \"value\", not {PythonValues.Repr(other)}"),
        };
        var pairs = dict.Select(pair => new[] { PyDict.FromKey(pair.Key), pair.Value }).ToList();
        var sorted = PythonValues.SortStable(pairs, pair => SortKey(pair[position], caseSensitive), PythonValues.IsTruthy(args.Get(2, "reverse", false)));
        return sorted.Select(pair => (object?)pair).ToList();
    }

    static object? SortKey(object? value, bool caseSensitive) => !caseSensitive && value is string s ? s.ToLowerInvariant() : value;

    static object? ToFloat(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("float", "default");
        object? fallback = args.Get(0, "default", 0.0);
        return value switch
        {
            double d => d,
            long or bool => PythonValues.TryNumber(value, out double n, out _) ? n : fallback,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
            _ => fallback,
        };
    }

    static object? ToInteger(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("int", "default", "base");
        object? fallback = args.Get(0, "default", 0L);
        long numberBase = Methods.RequireInteger(args.Get(1, "base", 10L), "int");
        return value switch
        {
            long or bool => PythonValues.TryInteger(value, out long i) ? i : fallback,
            double d when !double.IsNaN(d) && !double.IsInfinity(d) && Math.Abs(d) < 9.2e18 => (long)Math.Truncate(d),
            string s when TryParseInteger(s.Trim().Replace("_", ""), (int)numberBase, out long parsed) => parsed,
            string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && Math.Abs(d) < 9.2e18 => (long)Math.Truncate(d),
            _ => fallback,
        };
    }

    static bool TryParseInteger(string text, int numberBase, out long value)
    {
        value = 0;
        if (numberBase == 10)
            return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
        if (numberBase is not (2 or 8 or 16))
            return false;
        string digits = text.StartsWith('-') ? text[1..] : text;
        string prefix = numberBase switch { 2 => "0b", 8 => "0o", _ => "0x" };
        if (digits.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            digits = digits[2..];
        try
        {
            value = Convert.ToInt64(digits, numberBase) * (text.StartsWith('-') ? -1 : 1);
            return digits.Length > 0;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            return false;
        }
    }

    static object? Indent(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("indent", "width", "first", "blank");
        string indentation = args.Get(0, "width", 4L) is string text ? text : new string(' ', (int)Math.Max(0, Methods.RequireInteger(args.Get(0, "width", 4L), "indent")));
        bool first = PythonValues.IsTruthy(args.Get(1, "first", false));
        bool blank = PythonValues.IsTruthy(args.Get(2, "blank", false));
        // jinja2 appends a newline before splitting so a trailing line break survives splitlines().
        List<string> lines = Methods.SplitLines(PythonValues.Str(value) + "\n");
        string result = blank
            ? string.Join("\n" + indentation, lines)
            : lines[0] + string.Concat(lines.Skip(1).Select(line => "\n" + (line.Length > 0 ? indentation + line : line)));
        return Operators.CheckLength(first ? indentation + result : result, renderer.Limits.MaxOutputLength);
    }

    static object? Join(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("join", "d", "attribute");
        string separator = PythonValues.Str(args.Get(0, "d", ""));
        IEnumerable<object?> items = PythonValues.Iterate(value);
        if (args.Get(1, "attribute") is { } attribute)
            items = items.Select(item => AttributePath(item, attribute));
        var result = new StringBuilder();
        bool firstItem = true;
        foreach (object? item in items)
        {
            if (!firstItem)
                result.Append(separator);
            firstItem = false;
            result.Append(PythonValues.Str(item));
            if (result.Length > renderer.Limits.MaxOutputLength)
                Operators.CheckLength(result.ToString(), renderer.Limits.MaxOutputLength);
        }
        return result.ToString();
    }

    /// <summary>jinja2's attribute getter: <c>"a.b.0"</c> walks items by name or integer index.</summary>
    static object? AttributePath(object? item, object? path)
    {
        if (PythonValues.TryInteger(path, out long index))
            return Operators.GetItem(item, index);
        foreach (string part in PythonValues.Str(path).Split('.'))
            item = Operators.GetItem(item, long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? i : part);
        return item;
    }

    static object? Map(Renderer renderer, object? value, CallArguments args)
    {
        IReadOnlyList<object?> items = PythonValues.Iterate(value);
        if (args.Positional.Count == 0 && args.Named.Any(n => n.Key == "attribute"))
        {
            args.Expect("map", "attribute", "default");
            object? attribute = args.Get(0, "attribute");
            bool hasDefault = args.Has(1, "default");
            return items.Select(item =>
            {
                object? mapped = AttributePath(item, attribute);
                return mapped is Undefined && hasDefault ? args.Get(1, "default") : mapped;
            }).ToList();
        }
        if (args.Positional.Count == 0)
            throw TemplateRuntimeException.Runtime("map() needs a filter name or attribute=");
        string filter = Methods.RequireString(args.Positional[0], "map");
        if (!Has(filter))
            throw TemplateRuntimeException.Runtime($"no filter named '{filter}'");
        var rest = new CallArguments(args.Positional.Skip(1).ToList(), args.Named);
        return items.Select(item => Apply(renderer, filter, item, rest)).ToList();
    }

    static object? Select(Renderer renderer, object? value, CallArguments args, string name, bool byAttribute, bool keep)
    {
        if (args.Named.Count > 0)
            throw TemplateRuntimeException.Runtime($"{name}() takes no keyword arguments");
        int testAt = byAttribute ? 1 : 0;
        if (byAttribute && args.Positional.Count == 0)
            throw TemplateRuntimeException.Runtime($"{name}() needs an attribute name");
        string? test = args.Positional.Count > testAt ? Methods.RequireString(args.Positional[testAt], name) : null;
        if (test is not null && !Tests.Has(test))
            throw TemplateRuntimeException.Runtime($"no test named '{test}'");
        var testArgs = new CallArguments(args.Positional.Skip(testAt + 1).ToList(), []);
        return PythonValues.Iterate(value).Where(item =>
        {
            object? subject = byAttribute ? AttributePath(item, args.Positional[0]) : item;
            bool passed = test is null ? PythonValues.IsTruthy(subject) : Tests.Apply(renderer, test, subject, testArgs);
            return passed == keep;
        }).ToList();
    }

    static object? Extreme(object? value, CallArguments args, string name, bool pickLarger)
    {
        args.Expect(name, "case_sensitive", "attribute");
        bool caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        object? attribute = args.Get(1, "attribute");
        IReadOnlyList<object?> items = PythonValues.Iterate(value);
        if (items.Count == 0)
            return new Undefined($"No aggregated item, sequence was empty.");
        object? Key(object? item) => SortKey(attribute is null ? item : AttributePath(item, attribute), caseSensitive);
        object? best = items[0];
        foreach (object? item in items.Skip(1))
            if (PythonValues.Compare(Key(item), Key(best), pickLarger ? ">" : "<"))
                best = item;
        return best;
    }

    static object? Round(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("round", "precision", "method");
        long precision = Methods.RequireInteger(args.Get(0, "precision", 0L), "round");
        if (!PythonValues.TryNumber(value, out double number, out bool isInteger))
            throw TemplateRuntimeException.Runtime($"round needs a number, not {PythonValues.TypeName(value)}");
        double scale = Math.Pow(10, precision);
        return args.Get(1, "method", "common") switch
        {
            "common" when isInteger => (object)PythonFormat.Round((long)number, precision),
            "common" => PythonFormat.Round(number, precision),
            "ceil" => Math.Ceiling(number * scale) / scale,
            "floor" => Math.Floor(number * scale) / scale,
            _ => throw TemplateRuntimeException.Runtime("method must be 'common', 'ceil' or 'floor'"),
        };
    }

    static PyDict MakeDict(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        var dict = new PyDict();
        foreach (var (key, item) in pairs)
            dict[key] = item;
        return dict;
    }

    static object? Sort(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("sort", "reverse", "case_sensitive", "attribute");
        bool reverse = PythonValues.IsTruthy(args.Get(0, "reverse", false));
        bool caseSensitive = PythonValues.IsTruthy(args.Get(1, "case_sensitive", false));
        object? attribute = args.Get(2, "attribute");
        return PythonValues.SortStable(PythonValues.Iterate(value).ToList(), item => SortKey(attribute is null ? item : AttributePath(item, attribute), caseSensitive), reverse);
    }

    static object? Sum(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("sum", "attribute", "start");
        object? attribute = args.Get(0, "attribute");
        object? total = args.Get(1, "start", 0L);
        foreach (object? item in PythonValues.Iterate(value))
            total = Operators.Binary("+", total, attribute is null ? item : AttributePath(item, attribute), renderer.Limits.MaxOutputLength);
        return total;
    }

    static object? Unique(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("unique", "case_sensitive", "attribute");
        bool caseSensitive = PythonValues.IsTruthy(args.Get(0, "case_sensitive", false));
        object? attribute = args.Get(1, "attribute");
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (object? item in PythonValues.Iterate(value))
        {
            object? key = SortKey(attribute is null ? item : AttributePath(item, attribute), caseSensitive);
            if (seen.Any(s => PythonValues.AreEqual(s, key)))
                continue;
            seen.Add(key);
            result.Add(item);
        }
        return result;
    }

    /// <summary>jinja2's <c>title</c>: capitalizes each word, words being split at whitespace and <c>-([{&lt;</c>.</summary>
    static string Title(string s)
    {
        var result = new StringBuilder(s.Length);
        bool wordStart = true;
        foreach (char c in s)
        {
            bool separator = PythonText.IsSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            result.Append(separator ? c : wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = separator;
        }
        return result.ToString();
    }

    /// <summary>Hugging Face's override: <c>json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)</c>.</summary>
    static object? ToJson(Renderer renderer, object? value, CallArguments args)
    {
        args.Expect("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
        string? indent = args.Get(1, "indent") switch
        {
            null => null,
            string text => text,
            var width when PythonValues.TryInteger(width, out long n) => new string(' ', (int)Math.Clamp(n, 0, 64)),
            var other => throw TemplateRuntimeException.Runtime($"tojson indent must be an integer or string, not {PythonValues.TypeName(other)}"),
        };
        (string, string)? separators = args.Get(2, "separators") switch
        {
            null => null,
            IReadOnlyList<object?> pair when pair.Count == 2 && pair[0] is string item && pair[1] is string key => (item, key),
            _ => throw TemplateRuntimeException.Runtime("tojson separators must be a pair of strings"),
        };
        return PythonJson.Dumps(value, indent, separators, PythonValues.IsTruthy(args.Get(3, "sort_keys", false)),
            PythonValues.IsTruthy(args.Get(0, "ensure_ascii", false)), renderer.Limits.MaxOutputLength);
    }
}
