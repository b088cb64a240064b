using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ModelGrid.Engine.Text.Templates;

// Template values are plain CLR objects standing for Python values:
//   null = None, bool, long = int, double = float, string = str, List<object?> = list, object?[] = tuple,
//   PyDict = dict (insertion ordered), plus the jinja2 runtime types below.

/// <summary>jinja2's default <c>Undefined</c>: falsy, renders empty, iterates as empty; most other uses raise.</summary>
internal sealed class Undefined(string hint)
{
    /// <summary>The error jinja2 would report on misuse, e.g. <c>'x' is undefined</c>.</summary>
    public string Hint { get; } = hint;

    public static Undefined ForName(string name) => new($"'{name}' is undefined");

    public static Undefined ForAttribute(object? target, string attribute) =>
        new($"'{PythonValues.TypeName(target)} object' has no attribute '{attribute}'");

    public static Undefined ForItem(object? target, object? key) =>
        new($"'{PythonValues.TypeName(target)} object' has no element {PythonValues.Repr(key)}");

    public TemplateRuntimeException Fail() => TemplateRuntimeException.Runtime(Hint);
}

/// <summary>A Python dict: insertion-ordered, keys compared with Python equality (1 == 1.0 == True).</summary>
internal sealed class PyDict() : OrderedDictionary<object, object?>(PythonKeyComparer.Instance)
{
    /// <summary>Python's None as a dictionary key (CLR dictionaries cannot hold null keys).</summary>
    public static readonly object NoneKey = new();

    public static object ToKey(object? key) => key ?? NoneKey;

    public static object? FromKey(object key) => ReferenceEquals(key, NoneKey) ? null : key;
}

/// <summary>The object <c>namespace(...)</c> returns: the only thing templates may assign attributes on.</summary>
internal sealed class Namespace
{
    public PyDict Attributes { get; } = new();
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public object? Attribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex" => (long)(items.Count - Index0),
        "revindex0" => (long)(items.Count - Index0 - 1),
        "first" => Index0 == 0,
        "last" => Index0 == items.Count - 1,
        "length" => (long)items.Count,
        "depth" => 1L,
        "depth0" => 0L,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new Undefined("there is no previous item"),
        "nextitem" => Index0 + 1 < items.Count ? items[Index0 + 1] : new Undefined("there is no next item"),
        "cycle" => new BuiltinFunction("loop.cycle", Cycle),
        _ => Undefined.ForAttribute(this, name),
    };

    object? Cycle(CallArguments arguments)
    {
        if (arguments.Positional.Count == 0)
            throw TemplateRuntimeException.Runtime("loop.cycle() needs at least one argument");
        return arguments.Positional[Index0 % arguments.Positional.Count];
    }
}

internal sealed record CallArguments(IReadOnlyList<object?> Positional, IReadOnlyList<KeyValuePair<string, object?>> Named)
{
    public static CallArguments Of(params object?[] positional) => new(positional, []);

    /// <summary>The argument at <paramref name="position"/> or named <paramref name="name"/>, else <paramref name="fallback"/>.</summary>
    public object? Get(int position, string name, object? fallback = null)
    {
        foreach (var (key, value) in Named)
            if (key == name)
                return value;
        return position < Positional.Count ? Positional[position] : fallback;
    }

    public bool Has(int position, string name) => position < Positional.Count || Named.Any(n => n.Key == name);

    /// <summary>Rejects arguments a function does not take, naming the function.</summary>
    public void Expect(string function, params string[] parameterNames)
    {
        if (Positional.Count > parameterNames.Length)
            throw TemplateRuntimeException.Runtime($"{function}() takes at most {parameterNames.Length} positional argument(s), got {Positional.Count}");
        foreach (var (key, _) in Named)
        {
            int at = Array.IndexOf(parameterNames, key);
            if (at < 0)
                throw TemplateRuntimeException.Runtime($"{function}() got an unexpected keyword argument '{key}'");
            if (at < Positional.Count)
                throw TemplateRuntimeException.Runtime($"{function}() got multiple values for argument '{key}'");
        }
    }
}

internal interface ITemplateCallable
{
    string Name { get; }

    object? Invoke(Renderer renderer, CallArguments arguments);
}

internal sealed class BuiltinFunction(string name, Func<CallArguments, object?> body) : ITemplateCallable
{
    public string Name { get; } = name;

    public object? Invoke(Renderer renderer, CallArguments arguments) => body(arguments);
}

/// <summary>A built-in that needs the renderer (limits, scope), such as <c>range</c>.</summary>
internal sealed class RendererFunction(string name, Func<Renderer, CallArguments, object?> body) : ITemplateCallable
{
    public string Name { get; } = name;

    public object? Invoke(Renderer renderer, CallArguments arguments) => body(renderer, arguments);
}

/// <summary>Python equality and hashing for dict keys; unhashable values (list, dict) are rejected as Python does.</summary>
internal sealed class PythonKeyComparer : IEqualityComparer<object>
{
    public static readonly PythonKeyComparer Instance = new();

    public new bool Equals(object? x, object? y) => PythonValues.AreEqual(PyDict.FromKey(x!), PyDict.FromKey(y!));

    public int GetHashCode(object obj) => obj switch
    {
        bool b => b ? 1 : 0,
        long l => l.GetHashCode(),
        double d when d == Math.Floor(d) && Math.Abs(d) < 9e18 => ((long)d).GetHashCode(),
        double d => d.GetHashCode(),
        string s => string.GetHashCode(s, StringComparison.Ordinal),
        object?[] tuple => tuple.Aggregate(17, (hash, item) => hash * 31 + (item is null ? 0 : GetHashCode(item))),
        List<object?> or PyDict => throw TemplateRuntimeException.Runtime($"unhashable type: '{PythonValues.TypeName(obj)}'"),
        _ => RuntimeHelpers.GetHashCode(obj),
    };
}

/// <summary>Python value semantics: truthiness, str()/repr(), equality, ordering, len(), iteration.</summary>
internal static class PythonValues
{
    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => FromJsonObject(obj),
        JsonArray array => array.Select(FromJson).ToList(),
        JsonValue value => FromJsonValue(value),
        _ => throw new ArgumentException($"unsupported JSON node {node.GetType().Name}"),
    };

    public static PyDict FromJsonObject(JsonObject obj)
    {
        var dict = new PyDict();
        foreach (var (key, value) in obj)
            dict[key] = FromJson(value);
        return dict;
    }

    static object? FromJsonValue(JsonValue value) => value.GetValueKind() switch
    {
        JsonValueKind.String => value.GetValue<string>(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        // Python's json module reads a number without fraction or exponent as int, anything else as float.
        JsonValueKind.Number => ParseJsonNumber(value.ToJsonString()),
        var kind => throw new ArgumentException($"unsupported JSON value kind {kind}"),
    };

    static object ParseJsonNumber(string text)
    {
        if (text.IndexOfAny(['.', 'e', 'E']) < 0 && long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long integer))
            return integer;
        return double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        PyDict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        ITemplateCallable => "function",
        _ => value.GetType().Name,
    };

    public static bool IsTruthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        object?[] tuple => tuple.Length > 0,
        PyDict dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str(value)</c>, which is what <c>{{ value }}</c> prints.</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        _ => Repr(value),
    };

    public static string Repr(object? value) => value switch
    {
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
        double d => PythonText.FloatRepr(d),
        string s => PythonText.StringRepr(s),
        Undefined => "Undefined",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        object?[] tuple => tuple.Length == 1 ? "(" + Repr(tuple[0]) + ",)" : "(" + string.Join(", ", tuple.Select(Repr)) + ")",
        PyDict dict => "{" + string.Join(", ", dict.Select(pair => Repr(PyDict.FromKey(pair.Key)) + ": " + Repr(pair.Value))) + "}",
        Namespace ns => "<Namespace " + Repr(ns.Attributes) + ">",
        ITemplateCallable callable => $"<function {callable.Name}>",
        _ => $"<{TypeName(value)} object>",
    };

    /// <summary>bool, int and float as a number (Python's bool is an int); false for anything else.</summary>
    public static bool TryNumber(object? value, out double number, out bool isInteger)
    {
        switch (value)
        {
            case bool b: number = b ? 1 : 0; isInteger = true; return true;
            case long l: number = l; isInteger = true; return true;
            case double d: number = d; isInteger = false; return true;
            default: number = 0; isInteger = false; return false;
        }
    }

    public static bool TryInteger(object? value, out long integer)
    {
        switch (value)
        {
            case bool b: integer = b ? 1 : 0; return true;
            case long l: integer = l; return true;
            default: integer = 0; return false;
        }
    }

    public static bool AreEqual(object? a, object? b)
    {
        if (a is null || b is null)
            return a is null && b is null;
        if (TryInteger(a, out long ia) && TryInteger(b, out long ib))
            return ia == ib;
        if (TryNumber(a, out double da, out _) && TryNumber(b, out double db, out _))
            return da == db;
        return (a, b) switch
        {
            (string sa, string sb) => string.Equals(sa, sb, StringComparison.Ordinal),
            (Undefined, Undefined) => true,
            (List<object?> la, List<object?> lb) => la.Count == lb.Count && la.Zip(lb).All(p => AreEqual(p.First, p.Second)),
            (object?[] ta, object?[] tb) => ta.Length == tb.Length && ta.Zip(tb).All(p => AreEqual(p.First, p.Second)),
            (PyDict xa, PyDict xb) => xa.Count == xb.Count && xa.All(pair => xb.TryGetValue(pair.Key, out object? other) && AreEqual(pair.Value, other)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python's <c>a op b</c> for the orderings <c>&lt; &lt;= &gt; &gt;=</c> over numbers, strings (by code point) and sequences.</summary>
    public static bool Compare(object? a, object? b, string op)
    {
        if (TryNumber(a, out double da, out _) && TryNumber(b, out double db, out _) && (double.IsNaN(da) || double.IsNaN(db)))
            return false;
        int order = Order(a, b, op);
        return op switch
        {
            "<" => order < 0,
            "<=" => order <= 0,
            ">" => order > 0,
            ">=" => order >= 0,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "not an ordering operator"),
        };
    }

    static int Order(object? a, object? b, string op)
    {
        if (TryInteger(a, out long ia) && TryInteger(b, out long ib))
            return ia.CompareTo(ib);
        if (TryNumber(a, out double da, out _) && TryNumber(b, out double db, out _))
            return da.CompareTo(db);
        return (a, b) switch
        {
            (string sa, string sb) => PythonText.CompareCodePoints(sa, sb),
            (List<object?> la, List<object?> lb) => OrderSequences(la, lb, op),
            (object?[] ta, object?[] tb) => OrderSequences(ta, tb, op),
            _ => throw TemplateRuntimeException.Runtime($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'"),
        };
    }

    static int OrderSequences(IReadOnlyList<object?> a, IReadOnlyList<object?> b, string op)
    {
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
            if (!AreEqual(a[i], b[i]))
                return Order(a[i], b[i], op);
        return a.Count.CompareTo(b.Count);
    }

    /// <summary>Python's stable <c>sorted(items, key=key, reverse=reverse)</c>; unorderable keys raise a TypeError-like error.</summary>
    public static List<T> SortStable<T>(List<T> items, Func<T, object?> key, bool reverse)
    {
        int Order(object? a, object? b) => Compare(a, b, "<") ? -1 : Compare(b, a, "<") ? 1 : 0;
        var indexed = items.Select((item, index) => (Item: item, Key: key(item), Index: index)).ToList();
        try
        {
            // Python's sort is stable, and reverse=True keeps equal items in their original order too.
            indexed.Sort((x, y) =>
            {
                int order = reverse ? Order(y.Key, x.Key) : Order(x.Key, y.Key);
                return order != 0 ? order : x.Index.CompareTo(y.Index);
            });
        }
        catch (InvalidOperationException e) when (e.InnerException is TemplateRuntimeException inner)
        {
            throw inner;
        }
        return indexed.Select(entry => entry.Item).ToList();
    }

    public static long Length(object? value) => value switch
    {
        string s => PythonText.CodePointCount(s),
        List<object?> list => list.Count,
        object?[] tuple => tuple.Length,
        PyDict dict => dict.Count,
        Undefined => 0,
        _ => throw TemplateRuntimeException.Runtime($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>The items a for loop (or a filter) sees: list/tuple items, characters, dict keys; nothing for Undefined.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> list => list,
        object?[] tuple => tuple,
        string s => PythonText.CodePoints(s),
        PyDict dict => dict.Keys.Select(PyDict.FromKey).ToList(),
        Undefined => [],
        _ => throw TemplateRuntimeException.Runtime($"'{TypeName(value)}' object is not iterable"),
    };

    public static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string part => s.Contains(part, StringComparison.Ordinal),
        string => throw TemplateRuntimeException.Runtime($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> or object?[] => ((IReadOnlyList<object?>)container).Any(x => AreEqual(x, item)),
        PyDict dict => dict.ContainsKey(PyDict.ToKey(item)),
        Undefined => false,
        _ => throw TemplateRuntimeException.Runtime($"argument of type '{TypeName(container)}' is not iterable"),
    };
}
