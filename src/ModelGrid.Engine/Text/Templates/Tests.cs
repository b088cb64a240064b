namespace ModelGrid.Engine.Text.Templates;

/// <summary>jinja2's built-in tests (<c>x is defined</c>, <c>x is mapping</c>, ...), with Python's type rules.</summary>
internal static class Tests
{
    delegate bool Test(Renderer renderer, object? value, CallArguments args);

    static readonly Dictionary<string, Test> All = new()
    {
        ["defined"] = (_, value, args) => Simple(args, "defined", value is not Undefined),
        ["undefined"] = (_, value, args) => Simple(args, "undefined", value is Undefined),
        ["none"] = (_, value, args) => Simple(args, "none", value is null),
        ["boolean"] = (_, value, args) => Simple(args, "boolean", value is bool),
        ["true"] = (_, value, args) => Simple(args, "true", value is true),
        ["false"] = (_, value, args) => Simple(args, "false", value is false),
        ["string"] = (_, value, args) => Simple(args, "string", value is string),
        ["number"] = (_, value, args) => Simple(args, "number", value is bool or long or double),
        ["integer"] = (_, value, args) => Simple(args, "integer", value is long),
        ["float"] = (_, value, args) => Simple(args, "float", value is double),
        ["mapping"] = (_, value, args) => Simple(args, "mapping", value is PyDict),
        // Python's duck typing: str, list, tuple and dict all have len() and [], and jinja2's Undefined defines both.
        ["sequence"] = (_, value, args) => Simple(args, "sequence", value is string or List<object?> or object?[] or PyDict or Undefined),
        ["iterable"] = (_, value, args) => Simple(args, "iterable", value is string or List<object?> or object?[] or PyDict or Undefined),
        // jinja2's Undefined defines __call__ (to raise), so Python calls it callable.
        ["callable"] = (_, value, args) => Simple(args, "callable", value is ITemplateCallable or Undefined),
        ["escaped"] = (_, value, args) => Simple(args, "escaped", false),
        ["lower"] = (_, value, args) => Simple(args, "lower", Methods.IsCased(PythonValues.Str(value), lower: true)),
        ["upper"] = (_, value, args) => Simple(args, "upper", Methods.IsCased(PythonValues.Str(value), lower: false)),
        ["odd"] = (_, value, args) => Simple(args, "odd", Remainder(value, 2L) == 1),
        ["even"] = (_, value, args) => Simple(args, "even", Remainder(value, 2L) == 0),
        ["divisibleby"] = (_, value, args) => Remainder(value, Argument(args, "divisibleby", "num")) == 0,
        ["eq"] = Equal,
        ["equalto"] = Equal,
        ["=="] = Equal,
        ["ne"] = (renderer, value, args) => !Equal(renderer, value, args),
        ["!="] = (renderer, value, args) => !Equal(renderer, value, args),
        ["lt"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "lt", "other"), "<"),
        ["lessthan"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "lessthan", "other"), "<"),
        ["<"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "<", "other"), "<"),
        ["le"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "le", "other"), "<="),
        ["<="] = (_, value, args) => PythonValues.Compare(value, Argument(args, "<=", "other"), "<="),
        ["gt"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "gt", "other"), ">"),
        ["greaterthan"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "greaterthan", "other"), ">"),
        [">"] = (_, value, args) => PythonValues.Compare(value, Argument(args, ">", "other"), ">"),
        ["ge"] = (_, value, args) => PythonValues.Compare(value, Argument(args, "ge", "other"), ">="),
        [">="] = (_, value, args) => PythonValues.Compare(value, Argument(args, ">=", "other"), ">="),
        ["in"] = (_, value, args) => PythonValues.Contains(Argument(args, "in", "seq"), value),
        ["sameas"] = (_, value, args) => IsSame(value, Argument(args, "sameas", "other")),
        ["filter"] = (_, value, args) => Simple(args, "filter", value is string name && Filters.Has(name)),
        ["test"] = (_, value, args) => Simple(args, "test", value is string name && Has(name)),
    };

    public static bool Has(string name) => All.ContainsKey(name);

    public static bool Apply(Renderer renderer, string name, object? value, CallArguments args) => All[name](renderer, value, args);

    static bool Simple(CallArguments args, string name, bool result)
    {
        args.Expect(name);
        return result;
    }

    static object? Argument(CallArguments args, string test, string name)
    {
        args.Expect(test, name);
        if (!args.Has(0, name))
            throw TemplateRuntimeException.Runtime($"test '{test}' needs an argument");
        return args.Get(0, name);
    }

    static bool Equal(Renderer renderer, object? value, CallArguments args) => PythonValues.AreEqual(value, Argument(args, "eq", "other"));

    static long Remainder(object? value, object? divisor)
    {
        if (!PythonValues.TryInteger(value, out long a) || !PythonValues.TryInteger(divisor, out long b))
            throw TemplateRuntimeException.Runtime($"divisibility tests need integers, not {PythonValues.TypeName(value)} and {PythonValues.TypeName(divisor)}");
        return (long)Operators.Binary("%", a, b, int.MaxValue)!;
    }

    /// <summary>Python's <c>is</c>: None and the booleans are singletons; small ints compare by value like CPython's cache.</summary>
    static bool IsSame(object? a, object? b) => (a, b) switch
    {
        (null, null) => true,
        (bool x, bool y) => x == y,
        (long x, long y) => x == y && x is >= -5 and <= 256,
        _ => ReferenceEquals(a, b),
    };
}
