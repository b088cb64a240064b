namespace ModelGrid.Engine.Text.Templates;

/// <summary>Python's operators as jinja2 applies them, plus jinja2's attribute and item lookup rules.</summary>
internal static class Operators
{
    public static object? Binary(string op, object? left, object? right, int maxLength)
    {
        if (left is Undefined undefinedLeft)
            throw undefinedLeft.Fail();
        if (right is Undefined undefinedRight)
            throw undefinedRight.Fail();
        if (PythonValues.TryNumber(left, out double a, out bool leftIsInteger) && PythonValues.TryNumber(right, out double b, out bool rightIsInteger))
            return leftIsInteger && rightIsInteger ? IntegerArithmetic(op, (long)a, (long)b) : FloatArithmetic(op, a, b);
        object? result = (op, left, right) switch
        {
            ("+", string x, string y) => x + y,
            ("+", List<object?> x, List<object?> y) => new List<object?>([.. x, .. y]),
            ("+", object?[] x, object?[] y) => (object?[])[.. x, .. y],
            ("*", string s, _) when PythonValues.TryInteger(right, out long n) => Repeat(s, n, maxLength),
            ("*", _, string s) when PythonValues.TryInteger(left, out long n) => Repeat(s, n, maxLength),
            ("*", List<object?> list, _) when PythonValues.TryInteger(right, out long n) => RepeatList(list, n, maxLength),
            ("*", _, List<object?> list) when PythonValues.TryInteger(left, out long n) => RepeatList(list, n, maxLength),
            ("+", string, _) => throw TemplateRuntimeException.Runtime($"can only concatenate str (not \"{PythonValues.TypeName(right)}\") to str"),
            ("+", List<object?>, _) => throw TemplateRuntimeException.Runtime($"can only concatenate list (not \"{PythonValues.TypeName(right)}\") to list"),
            ("%", string format, _) => PythonFormat.Percent(format, right),
            _ => throw TemplateRuntimeException.Runtime(
                $"unsupported operand type(s) for {op}: '{PythonValues.TypeName(left)}' and '{PythonValues.TypeName(right)}'"),
        };
        return CheckLength(result, maxLength);
    }

    public static object? CheckLength(object? value, int maxLength)
    {
        long length = value switch
        {
            string s => s.Length,
            List<object?> list => list.Count,
            object?[] tuple => tuple.Length,
            _ => 0,
        };
        if (length > maxLength)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"a value of {length} items or characters exceeds the limit of {maxLength}");
        return value;
    }

    static string Repeat(string s, long count, int maxLength)
    {
        if (count <= 0 || s.Length == 0)
            return "";
        if (s.Length * (double)count > maxLength)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"repeating a string {count} times exceeds the limit of {maxLength} characters");
        return string.Concat(Enumerable.Repeat(s, (int)count));
    }

    static List<object?> RepeatList(List<object?> list, long count, int maxLength)
    {
        if (count <= 0 || list.Count == 0)
            return [];
        if (list.Count * (double)count > maxLength)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"repeating a list {count} times exceeds the limit of {maxLength} items");
        var result = new List<object?>();
        for (long i = 0; i < count; i++)
            result.AddRange(list);
        return result;
    }

    static object IntegerArithmetic(string op, long a, long b)
    {
        try
        {
            checked
            {
                switch (op)
                {
                    case "+": return a + b;
                    case "-": return a - b;
                    case "*": return a * b;
                    case "/": return FloatArithmetic(op, a, b);
                    case "//":
                        {
                            if (b == 0)
                                throw TemplateRuntimeException.Runtime("integer division or modulo by zero");
                            long quotient = a / b;
                            return (a % b != 0) && ((a < 0) != (b < 0)) ? quotient - 1 : quotient;
                        }
                    case "%":
                        {
                            if (b == 0)
                                throw TemplateRuntimeException.Runtime("integer division or modulo by zero");
                            long remainder = a % b;
                            return remainder != 0 && ((remainder < 0) != (b < 0)) ? remainder + b : remainder;
                        }
                    case "**":
                        {
                            if (b < 0)
                                return Math.Pow(a, b);
                            long result = 1, power = a;
                            for (long exponent = b; exponent > 0; exponent >>= 1)
                            {
                                if ((exponent & 1) == 1)
                                    result *= power;
                                if (exponent > 1)
                                    power *= power;
                            }
                            return result;
                        }
                    default: throw new ArgumentOutOfRangeException(nameof(op), op, "not an arithmetic operator");
                }
            }
        }
        catch (OverflowException)
        {
            throw TemplateRuntimeException.Runtime($"integer overflow in {a} {op} {b} (integers beyond 64 bits are not supported)");
        }
    }

    static double FloatArithmetic(string op, double a, double b)
    {
        if (b == 0 && op is "/" or "//" or "%")
            throw TemplateRuntimeException.Runtime("float division by zero");
        return op switch
        {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            "//" => Math.Floor(a / b),
            "%" => a - b * Math.Floor(a / b),
            "**" => Math.Pow(a, b),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "not an arithmetic operator"),
        };
    }

    public static object? Unary(string op, object? operand)
    {
        if (operand is Undefined undefined)
            throw undefined.Fail();
        if (PythonValues.TryInteger(operand, out long integer))
            return op == "-" ? (integer == long.MinValue ? throw TemplateRuntimeException.Runtime("integer overflow in negation") : -integer) : integer;
        if (operand is double d)
            return op == "-" ? -d : d;
        throw TemplateRuntimeException.Runtime($"bad operand type for unary {op}: '{PythonValues.TypeName(operand)}'");
    }

    /// <summary><c>obj.name</c>: jinja2 tries Python's getattr first (so <c>dict.items</c> is the method), then <c>obj['name']</c>.</summary>
    public static object? GetAttribute(object? target, string name) => target switch
    {
        Undefined undefined => throw undefined.Fail(),
        PyDict dict => Methods.Find(dict, name) ?? (dict.TryGetValue(name, out object? value) ? value : Undefined.ForAttribute(dict, name)),
        Namespace ns => ns.Attributes.TryGetValue(name, out object? value) ? value : Undefined.ForAttribute(ns, name),
        LoopContext loop => loop.Attribute(name),
        _ => Methods.Find(target, name) ?? Undefined.ForAttribute(target, name),
    };

    /// <summary><c>obj[key]</c>: Python subscription; a missing key or index yields Undefined, and a string key falls back to getattr.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined undefined:
                throw undefined.Fail();
            case PyDict dict when IsHashable(key) && dict.TryGetValue(PyDict.ToKey(key), out object? value):
                return value;
            case List<object?> or object?[] when PythonValues.TryInteger(key, out long index):
                {
                    var items = (IReadOnlyList<object?>)target;
                    long at = index < 0 ? index + items.Count : index;
                    return at >= 0 && at < items.Count ? items[(int)at] : Undefined.ForItem(target, key);
                }
            case string s when PythonValues.TryInteger(key, out long index):
                {
                    List<object?> characters = PythonText.CodePoints(s);
                    long at = index < 0 ? index + characters.Count : index;
                    return at >= 0 && at < characters.Count ? characters[(int)at] : Undefined.ForItem(target, key);
                }
        }
        return key is string name ? GetAttribute(target, name) : Undefined.ForItem(target, key);
    }

    static bool IsHashable(object? key) => key is not (List<object?> or PyDict);

    /// <summary>Python slicing <c>obj[start:stop:step]</c> on lists, tuples and strings (by code point).</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined undefined)
            throw undefined.Fail();
        long stride = step is null ? 1 : SliceIndex(step);
        if (stride == 0)
            throw TemplateRuntimeException.Runtime("slice step cannot be zero");
        IReadOnlyList<object?>? items = target switch
        {
            List<object?> list => list,
            object?[] tuple => tuple,
            string s => PythonText.CodePoints(s),
            _ => null,
        };
        if (items is null)
            return Undefined.ForItem(target, "slice");
        long length = items.Count;
        long lower = stride > 0 ? 0 : -1, upper = stride > 0 ? length : length - 1;
        long from = start is null ? (stride > 0 ? lower : upper) : Clamp(SliceIndex(start), length, lower, upper);
        long to = stop is null ? (stride > 0 ? upper : lower) : Clamp(SliceIndex(stop), length, lower, upper);
        var selected = new List<object?>();
        for (long i = from; stride > 0 ? i < to : i > to; i += stride)
            selected.Add(items[(int)i]);
        return target switch
        {
            string => string.Concat(selected.Cast<string>()),
            object?[] => selected.ToArray(),
            _ => selected,
        };
    }

    static long SliceIndex(object? value) => PythonValues.TryInteger(value, out long index)
        ? index
        : throw TemplateRuntimeException.Runtime("slice indices must be integers or None");

    static long Clamp(long index, long length, long lower, long upper) =>
        index < 0 ? Math.Max(index + length, lower) : Math.Min(index, upper);
}
