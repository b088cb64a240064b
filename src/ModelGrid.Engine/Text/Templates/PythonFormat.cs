using System.Globalization;
using System.Numerics;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>Python's printf-style <c>format % args</c> (also behind jinja2's <c>format</c> filter) and its <c>round()</c>.</summary>
internal static class PythonFormat
{
    /// <param name="arguments">a tuple for several values, a dict for <c>%(name)s</c> keys, anything else as the only value.</param>
    public static string Percent(string format, object? arguments)
    {
        IReadOnlyList<object?> values = arguments is object?[] tuple ? tuple : [arguments];
        var mapping = arguments as PyDict;
        int next = 0;
        var result = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                result.Append(format[i]);
                continue;
            }
            if (++i >= format.Length)
                throw TemplateRuntimeException.Runtime("incomplete format");
            object? value = null;
            bool fromMapping = false;
            if (format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0 || mapping is null)
                    throw TemplateRuntimeException.Runtime(close < 0 ? "incomplete format key" : "format requires a mapping");
                string key = format[(i + 1)..close];
                value = mapping.TryGetValue(key, out object? found) ? found : throw TemplateRuntimeException.Runtime($"format key '{key}' is missing");
                fromMapping = true;
                i = close + 1;
            }
            int flagsStart = i;
            while (i < format.Length && format[i] is '-' or '+' or ' ' or '0' or '#')
                i++;
            string flags = format[flagsStart..i];
            int width = ReadNumber(format, ref i);
            int precision = -1;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = Math.Max(0, ReadNumber(format, ref i));
            }
            if (i >= format.Length)
                throw TemplateRuntimeException.Runtime("incomplete format");
            char conversion = format[i];
            if (conversion == '%')
            {
                result.Append('%');
                continue;
            }
            if (!fromMapping)
            {
                if (next >= values.Count)
                    throw TemplateRuntimeException.Runtime("not enough arguments for format string");
                value = values[next++];
            }
            result.Append(Pad(Convert(conversion, value, precision, flags), width, flags, conversion));
        }
        if (mapping is null && next < values.Count)
            throw TemplateRuntimeException.Runtime("not all arguments converted during string formatting");
        return result.ToString();
    }

    static int ReadNumber(string format, ref int i)
    {
        int start = i;
        while (i < format.Length && char.IsAsciiDigit(format[i]))
            i++;
        return i == start ? 0 : int.Parse(format.AsSpan(start, i - start), CultureInfo.InvariantCulture);
    }

    static string Convert(char conversion, object? value, int precision, string flags)
    {
        string sign(double x) => x < 0 || double.IsNegative(x) ? "-" : flags.Contains('+') ? "+" : flags.Contains(' ') ? " " : "";
        switch (conversion)
        {
            case 's':
                return precision >= 0 ? Truncate(PythonValues.Str(value), precision) : PythonValues.Str(value);
            case 'r' or 'a':
                return precision >= 0 ? Truncate(PythonValues.Repr(value), precision) : PythonValues.Repr(value);
            case 'd' or 'i' or 'u':
                {
                    double number = RequireNumber(value, conversion);
                    double integer = Math.Truncate(number);
                    return sign(integer) + Math.Abs(integer).ToString("F0", CultureInfo.InvariantCulture);
                }
            case 'x' or 'X' or 'o':
                {
                    if (!PythonValues.TryInteger(value, out long integer))
                        throw TemplateRuntimeException.Runtime($"%{conversion} format: an integer is required, not {PythonValues.TypeName(value)}");
                    string digits = conversion == 'o' ? System.Convert.ToString(Math.Abs(integer), 8) : Math.Abs(integer).ToString(conversion == 'x' ? "x" : "X", CultureInfo.InvariantCulture);
                    string prefix = flags.Contains('#') ? (conversion == 'o' ? "0o" : conversion == 'x' ? "0x" : "0X") : "";
                    return sign(integer) + prefix + digits;
                }
            case 'f' or 'F' or 'e' or 'E' or 'g' or 'G':
                {
                    double number = RequireNumber(value, conversion);
                    if (double.IsNaN(number) || double.IsInfinity(number))
                        return sign(number) + (double.IsNaN(number) ? "nan" : "inf");
                    string body = FormatFloat(Math.Abs(number), char.ToLowerInvariant(conversion), precision < 0 ? 6 : precision, flags.Contains('#'));
                    return sign(number) + (char.IsUpper(conversion) ? body.ToUpperInvariant() : body);
                }
            case 'c':
                return value switch
                {
                    string { Length: > 0 } s when PythonText.CodePointCount(s) == 1 => s,
                    long code when code is >= 0 and <= 0x10FFFF => PythonText.FromCodePoint((int)code),
                    _ => throw TemplateRuntimeException.Runtime("%c requires an int or a single character"),
                };
            default:
                throw TemplateRuntimeException.Runtime($"unsupported format character '{conversion}'");
        }
    }

    static string Truncate(string s, int codePoints) =>
        PythonText.CodePointCount(s) <= codePoints ? s : string.Concat(PythonText.CodePoints(s).Take(codePoints).Cast<string>());

    static double RequireNumber(object? value, char conversion) => PythonValues.TryNumber(value, out double number, out _)
        ? number
        : throw TemplateRuntimeException.Runtime($"%{conversion} format: a real number is required, not {PythonValues.TypeName(value)}");

    static string FormatFloat(double magnitude, char conversion, int precision, bool alternate)
    {
        if (conversion == 'f')
            return magnitude.ToString("F" + precision, CultureInfo.InvariantCulture);
        if (conversion == 'e')
            return Exponential(magnitude, precision);
        int significant = Math.Max(precision, 1);
        string probe = Exponential(magnitude, significant - 1);
        int exponent = int.Parse(probe.AsSpan(probe.IndexOf('e') + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        string text = exponent >= -4 && exponent < significant
            ? magnitude.ToString("F" + (significant - 1 - exponent), CultureInfo.InvariantCulture)
            : probe;
        if (alternate)
            return text;
        int e = text.IndexOf('e');
        string mantissa = e < 0 ? text : text[..e];
        if (mantissa.Contains('.'))
            mantissa = mantissa.TrimEnd('0').TrimEnd('.');
        return e < 0 ? mantissa : mantissa + text[e..];
    }

    /// <summary>C's <c>%.{precision}e</c>: one digit, a point, the digits, and an exponent of at least two digits.</summary>
    static string Exponential(double magnitude, int precision)
    {
        return magnitude.ToString((precision == 0 ? "0" : "0." + new string('0', precision)) + "e+00", CultureInfo.InvariantCulture);
    }

    /// <summary>Python's <c>round(x, ndigits)</c> for floats: half-to-even on the exact binary value.</summary>
    public static double Round(double value, long digits)
    {
        if (double.IsNaN(value) || double.IsInfinity(value) || value == 0 || digits > 330)
            return value;
        if (digits < -330)
            return 0.0 * Math.Sign(value);
        long bits = BitConverter.DoubleToInt64Bits(Math.Abs(value));
        int rawExponent = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & 0xFFFFFFFFFFFFFL;
        BigInteger mantissa = rawExponent == 0 ? fraction : fraction | (1L << 52);
        int exponent = (rawExponent == 0 ? 1 : rawExponent) - 1075;
        BigInteger numerator = mantissa << Math.Max(exponent, 0);
        BigInteger denominator = BigInteger.One << Math.Max(-exponent, 0);
        if (digits >= 0)
            numerator *= BigInteger.Pow(10, (int)digits);
        else
            denominator *= BigInteger.Pow(10, (int)-digits);
        BigInteger quotient = BigInteger.DivRem(numerator, denominator, out BigInteger remainder);
        int half = (remainder * 2).CompareTo(denominator);
        if (half > 0 || (half == 0 && !quotient.IsEven))
            quotient += 1;
        double magnitude = digits >= 0
            ? double.Parse(quotient.ToString(CultureInfo.InvariantCulture) + "e-" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture)
            : (double)(quotient * BigInteger.Pow(10, (int)-digits));
        return value < 0 ? -magnitude : magnitude;
    }

    /// <summary>Python's <c>round(n, ndigits)</c> for ints: exact, half-to-even, still an int.</summary>
    public static long Round(long value, long digits)
    {
        if (digits >= 0)
            return value;
        if (digits < -18)
            return 0;
        long unit = (long)BigInteger.Pow(10, (int)-digits);
        long quotient = Math.DivRem(Math.Abs(value), unit, out long remainder);
        if (remainder * 2 > unit || (remainder * 2 == unit && quotient % 2 == 1))
            quotient++;
        return Math.Sign(value) * quotient * unit;
    }

    static string Pad(string text, int width, string flags, char conversion)
    {
        if (text.Length >= width)
            return text;
        if (flags.Contains('-'))
            return text.PadRight(width);
        if (flags.Contains('0') && conversion is not ('s' or 'r' or 'a' or 'c'))
        {
            int signLength = text.Length > 0 && text[0] is '-' or '+' or ' ' ? 1 : 0;
            return text[..signLength] + new string('0', width - text.Length) + text[signLength..];
        }
        return text.PadLeft(width);
    }
}
