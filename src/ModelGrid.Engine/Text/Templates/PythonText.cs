using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>Python's string semantics where they differ from .NET's: code point indexing, whitespace, repr().</summary>
internal static class PythonText
{
    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit (adds the \x1c-\x1f separators .NET does not count).</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string Strip(string s, string? chars) => RStrip(LStrip(s, chars), chars);

    public static string LStrip(string s, string? chars = null)
    {
        int start = 0;
        while (start < s.Length && IsStripped(s[start], chars))
            start++;
        return s[start..];
    }

    public static string RStrip(string s, string? chars = null)
    {
        int end = s.Length;
        while (end > 0 && IsStripped(s[end - 1], chars))
            end--;
        return s[..end];
    }

    static bool IsStripped(char c, string? chars) => chars is null ? IsSpace(c) : chars.Contains(c);

    public static string FromCodePoint(int code) =>
        code is >= 0xD800 and <= 0xDFFF ? ((char)code).ToString() : char.ConvertFromUtf32(code);

    /// <summary>Python counts code points; a surrogate pair is one character.</summary>
    public static int CodePointCount(string s)
    {
        int count = s.Length;
        for (int i = 0; i + 1 < s.Length; i++)
            if (char.IsSurrogatePair(s[i], s[i + 1]))
            {
                count--;
                i++;
            }
        return count;
    }

    public static List<object?> CodePoints(string s)
    {
        var result = new List<object?>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            int width = i + 1 < s.Length && char.IsSurrogatePair(s[i], s[i + 1]) ? 2 : 1;
            result.Add(s.Substring(i, width));
            i += width - 1;
        }
        return result;
    }

    public static int CompareCodePoints(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            int ca = CodePointAt(a, ref i), cb = CodePointAt(b, ref j);
            if (ca != cb)
                return ca.CompareTo(cb);
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    static int CodePointAt(string s, ref int i)
    {
        if (i + 1 < s.Length && char.IsSurrogatePair(s[i], s[i + 1]))
        {
            int code = char.ConvertToUtf32(s[i], s[i + 1]);
            i += 2;
            return code;
        }
        return s[i++];
    }

    /// <summary>Python's <c>repr(float)</c>: shortest round-trip digits, exponent form outside 1e-4 &lt;= |x| &lt; 1e16.</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value))
            return "nan";
        if (double.IsInfinity(value))
            return value > 0 ? "inf" : "-inf";
        string sign = value < 0 || (value == 0 && double.IsNegative(value)) ? "-" : "";
        if (value == 0)
            return sign + "0.0";
        (string digits, int pointPosition) = ShortestDigits(Math.Abs(value));
        if (pointPosition > -4 && pointPosition <= 16)
        {
            if (pointPosition <= 0)
                return sign + "0." + new string('0', -pointPosition) + digits;
            if (pointPosition >= digits.Length)
                return sign + digits + new string('0', pointPosition - digits.Length) + ".0";
            return sign + digits[..pointPosition] + "." + digits[pointPosition..];
        }
        int exponent = pointPosition - 1;
        string mantissa = digits.Length == 1 ? digits : digits[0] + "." + digits[1..];
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }

    /// <summary>The shortest digits that round-trip and where the decimal point falls relative to them (0.0123 -> "123", -1).</summary>
    static (string Digits, int PointPosition) ShortestDigits(double positive)
    {
        string text = positive.ToString("R", CultureInfo.InvariantCulture);
        int exponent = 0;
        int e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }
        int dot = text.IndexOf('.');
        string digits = dot < 0 ? text : text.Remove(dot, 1);
        int pointPosition = (dot < 0 ? text.Length : dot) + exponent;
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits[leadingZeros..].TrimEnd('0');
        return (digits, pointPosition - leadingZeros);
    }

    /// <summary>Python's <c>repr(str)</c>: single quotes unless the text holds a single quote and no double quote.</summary>
    public static string StringRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var result = new StringBuilder(s.Length + 2).Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == quote || c == '\\')
                result.Append('\\').Append(c);
            else if (c == '\n')
                result.Append("\\n");
            else if (c == '\r')
                result.Append("\\r");
            else if (c == '\t')
                result.Append("\\t");
            else if (i + 1 < s.Length && char.IsSurrogatePair(c, s[i + 1]))
            {
                int code = char.ConvertToUtf32(c, s[++i]);
                result.Append(IsPrintable(CharUnicodeInfo.GetUnicodeCategory(code)) ? char.ConvertFromUtf32(code) : $"\\U{code:x8}");
            }
            else if (c == ' ' || IsPrintable(CharUnicodeInfo.GetUnicodeCategory(c)))
                result.Append(c);
            else
                result.Append(c < 0x100 ? $"\\x{(int)c:x2}" : $"\\u{(int)c:x4}");
        }
        return result.Append(quote).ToString();
    }

    static bool IsPrintable(UnicodeCategory category) => category is not (
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
        or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
        or UnicodeCategory.SpaceSeparator);
}
