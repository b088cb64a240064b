using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>The functions a template can call by name: jinja2's globals plus the two Hugging Face adds.</summary>
internal static class Globals
{
    /// <summary>jinja2's sandbox refuses larger ranges the same way.</summary>
    const long MaxRange = 100_000;

    public static IReadOnlyDictionary<string, object?> All { get; } = new Dictionary<string, object?>
    {
        ["range"] = new BuiltinFunction("range", Range),
        ["dict"] = new BuiltinFunction("dict", args => MakeDict("dict", args)),
        ["namespace"] = new BuiltinFunction("namespace", MakeNamespace),
        ["raise_exception"] = new BuiltinFunction("raise_exception", args =>
            throw new TemplateRuntimeException(ChatTemplateErrorKind.Raised, PythonValues.Str(args.Get(0, "message", "")))),
        ["strftime_now"] = new BuiltinFunction("strftime_now", args =>
        {
            args.Expect("strftime_now", "format");
            return StrFTime(DateTime.Now, Methods.RequireString(args.Get(0, "format"), "strftime_now"));
        }),
    };

    static object? Range(CallArguments args)
    {
        if (args.Named.Count > 0 || args.Positional.Count is 0 or > 3)
            throw TemplateRuntimeException.Runtime("range() takes 1 to 3 positional arguments");
        long[] bounds = args.Positional.Select(value => Methods.RequireInteger(value, "range")).ToArray();
        var (start, stop, step) = bounds.Length switch
        {
            1 => (0L, bounds[0], 1L),
            2 => (bounds[0], bounds[1], 1L),
            _ => (bounds[0], bounds[1], bounds[2]),
        };
        if (step == 0)
            throw TemplateRuntimeException.Runtime("range() arg 3 must not be zero");
        double count = Math.Max(0, Math.Ceiling(((double)stop - start) / step));
        if (count > MaxRange)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"range of {count} items is larger than the sandbox allows ({MaxRange})");
        var result = new List<object?>((int)count);
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
            result.Add(i);
        return result;
    }

    static PyDict MakeDict(string function, CallArguments args)
    {
        if (args.Positional.Count > 1)
            throw TemplateRuntimeException.Runtime($"{function}() takes at most 1 positional argument");
        var dict = new PyDict();
        if (args.Positional.Count == 1)
        {
            if (args.Positional[0] is PyDict source)
                foreach (var (key, value) in source)
                    dict[key] = value;
            else
                foreach (object? pair in PythonValues.Iterate(args.Positional[0]))
                {
                    IReadOnlyList<object?> items = PythonValues.Iterate(pair);
                    if (items.Count != 2)
                        throw TemplateRuntimeException.Runtime($"{function}() sequence elements must have length 2");
                    dict[PyDict.ToKey(items[0])] = items[1];
                }
        }
        foreach (var (key, value) in args.Named)
            dict[key] = value;
        return dict;
    }

    static Namespace MakeNamespace(CallArguments args)
    {
        var ns = new Namespace();
        foreach (var (key, value) in MakeDict("namespace", args))
            ns.Attributes[key] = value;
        return ns;
    }

    /// <summary>Python's <c>datetime.strftime</c> for the C-standard directives (C locale names).</summary>
    static string StrFTime(DateTime time, string format)
    {
        var result = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                result.Append(format[i]);
                continue;
            }
            char directive = format[++i];
            result.Append(directive switch
            {
                'a' => time.ToString("ddd", CultureInfo.InvariantCulture),
                'A' => time.ToString("dddd", CultureInfo.InvariantCulture),
                'b' or 'h' => time.ToString("MMM", CultureInfo.InvariantCulture),
                'B' => time.ToString("MMMM", CultureInfo.InvariantCulture),
                'd' => time.ToString("dd", CultureInfo.InvariantCulture),
                'e' => time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'm' => time.ToString("MM", CultureInfo.InvariantCulture),
                'y' => time.ToString("yy", CultureInfo.InvariantCulture),
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'H' => time.ToString("HH", CultureInfo.InvariantCulture),
                'I' => time.ToString("hh", CultureInfo.InvariantCulture),
                'M' => time.ToString("mm", CultureInfo.InvariantCulture),
                'S' => time.ToString("ss", CultureInfo.InvariantCulture),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => time.DayOfYear.ToString("000", CultureInfo.InvariantCulture),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'w' => ((int)time.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'u' => (time.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)time.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'Z' or 'z' => "",
                '%' => "%",
                _ => "%" + directive,
            });
        }
        return result.ToString();
    }
}
