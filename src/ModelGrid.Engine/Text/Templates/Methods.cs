using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>
/// The Python methods templates call on values (<c>content.startswith(...)</c>, <c>message.get(...)</c>).
/// Methods that mutate are present but unusable, as in jinja2's ImmutableSandboxedEnvironment.
/// </summary>
internal static class Methods
{
    static readonly HashSet<string> MutatingDictMethods = ["pop", "popitem", "setdefault", "update", "clear"];
    static readonly HashSet<string> MutatingListMethods = ["append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"];

    /// <summary>The bound method <paramref name="name"/> of <paramref name="target"/>, or null when it has none.</summary>
    public static object? Find(object? target, string name)
    {
        Func<CallArguments, object?>? body = target switch
        {
            string s => StringMethod(s, name),
            PyDict dict => DictMethod(dict, name),
            List<object?> or object?[] => SequenceMethod((IReadOnlyList<object?>)target, name),
            _ => null,
        };
        if (body is not null)
            return new BuiltinFunction($"{PythonValues.TypeName(target)}.{name}", body);
        bool mutating = target switch
        {
            PyDict => MutatingDictMethods.Contains(name),
            List<object?> => MutatingListMethods.Contains(name),
            _ => false,
        };
        return mutating ? new Undefined($"access to attribute '{name}' of '{PythonValues.TypeName(target)}' object is unsafe (templates cannot modify values)") : null;
    }

    static Func<CallArguments, object?>? DictMethod(PyDict dict, string name) => name switch
    {
        "get" => args =>
        {
            args.Expect("dict.get", "key", "default");
            object? key = args.Get(0, "key", new Undefined("dict.get() needs a key"));
            if (key is Undefined missing)
                throw missing.Fail();
            return dict.TryGetValue(PyDict.ToKey(key), out object? value) ? value : args.Get(1, "default");
        }
        ,
        "items" => args => NoArguments(args, "dict.items", dict.Select(pair => (object?)new[] { PyDict.FromKey(pair.Key), pair.Value }).ToList()),
        "keys" => args => NoArguments(args, "dict.keys", dict.Keys.Select(PyDict.FromKey).ToList()),
        "values" => args => NoArguments(args, "dict.values", dict.Values.ToList()),
        "copy" => args => NoArguments(args, "dict.copy", Copy(dict)),
        _ => null,
    };

    static PyDict Copy(PyDict dict)
    {
        var copy = new PyDict();
        foreach (var (key, value) in dict)
            copy[key] = value;
        return copy;
    }

    static Func<CallArguments, object?>? SequenceMethod(IReadOnlyList<object?> items, string name) => name switch
    {
        "index" => args =>
        {
            args.Expect("index", "value");
            object? value = args.Get(0, "value");
            for (int i = 0; i < items.Count; i++)
                if (PythonValues.AreEqual(items[i], value))
                    return (long)i;
            throw TemplateRuntimeException.Runtime($"{PythonValues.Repr(value)} is not in list");
        }
        ,
        "count" => args =>
        {
            args.Expect("count", "value");
            object? value = args.Get(0, "value");
            return (long)items.Count(item => PythonValues.AreEqual(item, value));
        }
        ,
        "copy" when items is List<object?> list => args => NoArguments(args, "list.copy", new List<object?>(list)),
        _ => null,
    };

    static object? NoArguments(CallArguments args, string method, object? result)
    {
        args.Expect(method);
        return result;
    }

    static Func<CallArguments, object?>? StringMethod(string s, string name) => name switch
    {
        "startswith" => args => Affix(s, args, "startswith", (text, affix) => text.StartsWith(affix, StringComparison.Ordinal)),
        "endswith" => args => Affix(s, args, "endswith", (text, affix) => text.EndsWith(affix, StringComparison.Ordinal)),
        "strip" => args => PythonText.Strip(s, StripChars(args, "strip")),
        "lstrip" => args => PythonText.LStrip(s, StripChars(args, "lstrip")),
        "rstrip" => args => PythonText.RStrip(s, StripChars(args, "rstrip")),
        "split" => args => Split(s, args, "split", fromRight: false),
        "rsplit" => args => Split(s, args, "rsplit", fromRight: true),
        "splitlines" => args => NoArguments(args, "str.splitlines", SplitLines(s).ToList<object?>()),
        "replace" => args =>
        {
            args.Expect("str.replace", "old", "new", "count");
            return Replace(s, RequireString(args.Get(0, "old"), "replace"), RequireString(args.Get(1, "new"), "replace"),
                RequireInteger(args.Get(2, "count", -1L), "replace"));
        }
        ,
        "upper" => args => NoArguments(args, "str.upper", s.ToUpperInvariant()),
        "lower" => args => NoArguments(args, "str.lower", s.ToLowerInvariant()),
        "title" => args => NoArguments(args, "str.title", Title(s)),
        "capitalize" => args => NoArguments(args, "str.capitalize", Capitalize(s)),
        "find" => args => Find(s, args, "find", fromRight: false),
        "rfind" => args => Find(s, args, "rfind", fromRight: true),
        "count" => args =>
        {
            args.Expect("str.count", "sub");
            string part = RequireString(args.Get(0, "sub"), "count");
            return part.Length == 0 ? PythonText.CodePointCount(s) + 1L : (long)((s.Length - s.Replace(part, "", StringComparison.Ordinal).Length) / part.Length);
        }
        ,
        "join" => args =>
        {
            args.Expect("str.join", "iterable");
            return string.Join(s, PythonValues.Iterate(args.Get(0, "iterable")).Select(item => item as string
                ?? throw TemplateRuntimeException.Runtime($"sequence item: expected str instance, {PythonValues.TypeName(item)} found")));
        }
        ,
        "format" => args => Format(s, args),
        "center" => args =>
        {
            args.Expect("str.center", "width", "fillchar");
            return Center(s, RequireInteger(args.Get(0, "width"), "center"), RequireString(args.Get(1, "fillchar", " "), "center"));
        }
        ,
        "isdigit" => args => NoArguments(args, "str.isdigit", s.Length > 0 && s.All(char.IsDigit)),
        "isalpha" => args => NoArguments(args, "str.isalpha", s.Length > 0 && s.All(char.IsLetter)),
        "isalnum" => args => NoArguments(args, "str.isalnum", s.Length > 0 && s.All(char.IsLetterOrDigit)),
        "isspace" => args => NoArguments(args, "str.isspace", s.Length > 0 && s.All(PythonText.IsSpace)),
        "islower" => args => NoArguments(args, "str.islower", IsCased(s, lower: true)),
        "isupper" => args => NoArguments(args, "str.isupper", IsCased(s, lower: false)),
        _ => null,
    };

    public static string RequireString(object? value, string method) => value as string
        ?? throw TemplateRuntimeException.Runtime($"{method}() argument must be str, not {PythonValues.TypeName(value)}");

    public static long RequireInteger(object? value, string method) => PythonValues.TryInteger(value, out long integer)
        ? integer
        : throw TemplateRuntimeException.Runtime($"{method}() argument must be an integer, not {PythonValues.TypeName(value)}");

    static string? StripChars(CallArguments args, string method)
    {
        args.Expect("str." + method, "chars");
        object? chars = args.Get(0, "chars");
        return chars is null ? null : RequireString(chars, method);
    }

    static bool Affix(string s, CallArguments args, string method, Func<string, string, bool> matches)
    {
        args.Expect("str." + method, "prefix", "start", "end");
        string text = SubstringByCodePoints(s, args.Get(1, "start"), args.Get(2, "end"));
        return args.Get(0, "prefix") switch
        {
            string affix => matches(text, affix),
            object?[] options => options.Any(option => matches(text, RequireString(option, method))),
            var other => throw TemplateRuntimeException.Runtime($"{method} first arg must be str or a tuple of str, not {PythonValues.TypeName(other)}"),
        };
    }

    static string SubstringByCodePoints(string s, object? start, object? end) =>
        start is null && end is null ? s : (string)Operators.Slice(s, start, end, null)!;

    static List<object?> Split(string s, CallArguments args, string method, bool fromRight)
    {
        args.Expect("str." + method, "sep", "maxsplit");
        object? separator = args.Get(0, "sep");
        long maxSplit = RequireInteger(args.Get(1, "maxsplit", -1L), method);
        if (separator is null)
            return SplitWhitespace(s, maxSplit, fromRight);
        string sep = RequireString(separator, method);
        if (sep.Length == 0)
            throw TemplateRuntimeException.Runtime("empty separator");
        var parts = s.Split(sep).ToList<object?>();
        if (maxSplit < 0 || parts.Count - 1 <= maxSplit)
            return parts;
        int keep = (int)maxSplit;
        return fromRight
            ? [string.Join(sep, parts.Take(parts.Count - keep)), .. parts.Skip(parts.Count - keep)]
            : [.. parts.Take(keep), string.Join(sep, parts.Skip(keep))];
    }

    static List<object?> SplitWhitespace(string s, long maxSplit, bool fromRight)
    {
        var parts = new List<object?>();
        string rest = fromRight ? PythonText.RStrip(s) : PythonText.LStrip(s);
        while (rest.Length > 0 && (maxSplit < 0 || parts.Count < maxSplit))
        {
            if (fromRight)
            {
                int end = rest.Length;
                while (end > 0 && !PythonText.IsSpace(rest[end - 1]))
                    end--;
                parts.Insert(0, rest[end..]);
                rest = PythonText.RStrip(rest[..end]);
            }
            else
            {
                int end = 0;
                while (end < rest.Length && !PythonText.IsSpace(rest[end]))
                    end++;
                parts.Add(rest[..end]);
                rest = PythonText.LStrip(rest[end..]);
            }
        }
        // Past maxsplit the remainder keeps its whitespace on the side not yet consumed, as in Python.
        if (rest.Length > 0)
            parts.Insert(fromRight ? 0 : parts.Count, rest);
        return parts;
    }

    /// <summary>Python's <c>str.splitlines()</c> line boundaries.</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029'))
                continue;
            lines.Add(s[start..i]);
            if (c == '\r' && i + 1 < s.Length && s[i + 1] == '\n')
                i++;
            start = i + 1;
        }
        if (start < s.Length)
            lines.Add(s[start..]);
        return lines;
    }

    public static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0 && old.Length > 0)
            return s.Replace(old, replacement, StringComparison.Ordinal);
        var result = new StringBuilder();
        int position = 0;
        long done = 0;
        if (old.Length == 0)
        {
            // Python inserts the replacement before every character and at the end.
            foreach (string character in PythonText.CodePoints(s).Cast<string>())
            {
                if (count < 0 || done++ < count)
                    result.Append(replacement);
                result.Append(character);
            }
            if (count < 0 || done < count)
                result.Append(replacement);
            return result.ToString();
        }
        while (done < count)
        {
            int found = s.IndexOf(old, position, StringComparison.Ordinal);
            if (found < 0)
                break;
            result.Append(s, position, found - position).Append(replacement);
            position = found + old.Length;
            done++;
        }
        return result.Append(s, position, s.Length - position).ToString();
    }

    static long Find(string s, CallArguments args, string method, bool fromRight)
    {
        args.Expect("str." + method, "sub");
        string part = RequireString(args.Get(0, "sub"), method);
        int found = fromRight ? s.LastIndexOf(part, StringComparison.Ordinal) : s.IndexOf(part, StringComparison.Ordinal);
        return found < 0 ? -1 : PythonText.CodePointCount(s[..found]);
    }

    /// <summary>Python's <c>str.center</c>, which puts the odd padding character on the left when the width is odd.</summary>
    public static string Center(string s, long width, string fill)
    {
        if (fill.Length != 1)
            throw TemplateRuntimeException.Runtime("The fill character must be exactly one character long");
        long padding = width - PythonText.CodePointCount(s);
        if (padding <= 0)
            return s;
        long left = padding / 2 + (padding & width & 1);
        return new string(fill[0], (int)left) + s + new string(fill[0], (int)(padding - left));
    }

    /// <summary><c>str.format</c> with <c>{}</c>, <c>{0}</c> and <c>{name}</c> fields; format specs are not supported.</summary>
    static string Format(string format, CallArguments args)
    {
        var result = new StringBuilder();
        int automatic = 0;
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if ((c == '{' || c == '}') && i + 1 < format.Length && format[i + 1] == c)
            {
                result.Append(c);
                i++;
                continue;
            }
            if (c == '}')
                throw TemplateRuntimeException.Runtime("Single '}' encountered in format string");
            if (c != '{')
            {
                result.Append(c);
                continue;
            }
            int close = format.IndexOf('}', i);
            if (close < 0)
                throw TemplateRuntimeException.Runtime("Single '{' encountered in format string");
            string field = format[(i + 1)..close];
            if (field.IndexOfAny([':', '!', '.', '[']) >= 0)
                throw TemplateRuntimeException.Runtime($"format field '{{{field}}}' uses a conversion or spec, which is not supported");
            object? value;
            if (field.Length == 0 || char.IsAsciiDigit(field[0]))
            {
                int position = field.Length == 0 ? automatic++ : int.Parse(field, System.Globalization.CultureInfo.InvariantCulture);
                value = position < args.Positional.Count ? args.Positional[position]
                    : throw TemplateRuntimeException.Runtime($"Replacement index {position} out of range for positional args tuple");
            }
            else
                value = args.Named.FirstOrDefault(n => n.Key == field) is { Key: not null } named ? named.Value
                    : throw TemplateRuntimeException.Runtime($"format key '{field}' is missing");
            result.Append(PythonValues.Str(value));
            i = close;
        }
        return result.ToString();
    }

    public static string Capitalize(string s) => s.Length == 0 ? s : s[..1].ToUpperInvariant() + s[1..].ToLowerInvariant();

    static string Title(string s)
    {
        var result = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            result.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return result.ToString();
    }

    public static bool IsCased(string s, bool lower)
    {
        bool anyCased = false;
        foreach (char c in s)
        {
            if (char.IsUpper(c) && lower || char.IsLower(c) && !lower)
                return false;
            anyCased |= char.IsUpper(c) || char.IsLower(c);
        }
        return anyCased;
    }
}
