using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

internal enum TokenKind { Data, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End }

internal readonly record struct Token(TokenKind Kind, string Text, object? Value, int Line, int Column)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;

    public bool IsName(string name) => Is(TokenKind.Name, name);

    public bool IsOperator(string op) => Is(TokenKind.Operator, op);
}

/// <summary>
/// Splits template source into data and tag tokens the way jinja2's lexer does with the options Hugging Face
/// transformers renders chat templates with: <c>trim_blocks</c> and <c>lstrip_blocks</c> on, newlines normalized
/// to <c>\n</c> and a single trailing newline dropped (<c>keep_trailing_newline=False</c>).
/// </summary>
internal sealed class Lexer
{
    static readonly string[] Operators = ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "=", "<", ">", ";"];

    readonly string source;
    readonly List<int> lineStarts = [0];
    readonly List<Token> tokens = [];
    int pos;

    Lexer(string source)
    {
        this.source = source;
        for (int i = 0; i < source.Length; i++)
            if (source[i] == '\n')
                lineStarts.Add(i + 1);
    }

    public static List<Token> Tokenize(string source)
    {
        var lexer = new Lexer(Normalize(source));
        lexer.Run();
        return lexer.tokens;
    }

    static string Normalize(string source)
    {
        string text = source.Replace("\r\n", "\n").Replace('\r', '\n');
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    void Run()
    {
        // jinja2 lets lstrip_blocks strip a tag's indentation when the data before it starts a line: at the start
        // of the template or right after a tag whose trailing newline was consumed.
        bool lineStarting = true;
        while (pos < source.Length)
        {
            int tagStart = FindTagStart(pos);
            if (tagStart < 0)
            {
                Emit(TokenKind.Data, source[pos..], pos);
                break;
            }
            char kind = source[tagStart + 1];
            char sign = tagStart + 2 < source.Length && source[tagStart + 2] is '-' or '+' ? source[tagStart + 2] : '\0';
            string text = source[pos..tagStart];
            if (sign == '-')
                text = PythonText.RStrip(text);
            else if (sign != '+' && kind != '{')
                text = StripIndentation(text, lineStarting);
            if (text.Length > 0)
                Emit(TokenKind.Data, text, pos);
            pos = tagStart + 2 + (sign == '\0' ? 0 : 1);
            lineStarting = kind switch
            {
                '#' => SkipComment(tagStart),
                '%' when IsRawTag() => ReadRaw(tagStart),
                _ => ReadTag(kind == '{' ? TokenKind.VariableBegin : TokenKind.BlockBegin, tagStart),
            };
        }
        tokens.Add(new Token(TokenKind.End, "", null, Line(source.Length), Column(source.Length)));
    }

    static string StripIndentation(string text, bool lineStarting)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !lineStarting)
            return text;
        for (int i = lineStart; i < text.Length; i++)
            if (!PythonText.IsSpace(text[i]))
                return text;
        return text[..lineStart];
    }

    int FindTagStart(int from)
    {
        for (int i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
            if (source[i + 1] is '{' or '%' or '#')
                return i;
        return -1;
    }

    /// <summary>Consumes what follows a tag's closing delimiter; returns whether it ended on a newline.</summary>
    bool AfterTagEnd(char sign, bool isBlockOrComment)
    {
        if (sign == '-')
        {
            int start = pos;
            while (pos < source.Length && PythonText.IsSpace(source[pos]))
                pos++;
            return pos > start && source[pos - 1] == '\n';
        }
        if (sign != '+' && isBlockOrComment && pos < source.Length && source[pos] == '\n')
        {
            pos++;
            return true;
        }
        return false;
    }

    bool SkipComment(int tagStart)
    {
        int end = source.IndexOf("#}", pos, StringComparison.Ordinal);
        if (end < 0)
            throw Error("comment is not closed (missing '#}')", tagStart);
        char sign = end > pos && source[end - 1] is '-' or '+' ? source[end - 1] : '\0';
        pos = end + 2;
        return AfterTagEnd(sign, isBlockOrComment: true);
    }

    bool IsRawTag()
    {
        int i = pos;
        while (i < source.Length && PythonText.IsSpace(source[i]))
            i++;
        if (string.CompareOrdinal(source, i, "raw", 0, 3) != 0)
            return false;
        i += 3;
        return i < source.Length && (PythonText.IsSpace(source[i]) || source[i] is '-' or '+' or '%');
    }

    bool ReadRaw(int tagStart)
    {
        int close = source.IndexOf("%}", pos, StringComparison.Ordinal);
        if (close < 0)
            throw Error("raw tag is not closed (missing '%}')", tagStart);
        char openSign = source[close - 1] is '-' or '+' ? source[close - 1] : '\0';
        pos = close + 2;
        AfterTagEnd(openSign, isBlockOrComment: true);
        var endraw = System.Text.RegularExpressions.Regex.Match(source[pos..], @"\{%([-+]?)\s*endraw\s*([-+]?)%\}");
        if (!endraw.Success)
            throw Error("missing {% endraw %}", tagStart);
        string body = source.Substring(pos, endraw.Index);
        if (endraw.Groups[1].Value == "-")
            body = PythonText.RStrip(body);
        if (body.Length > 0)
            Emit(TokenKind.Data, body, pos);
        pos += endraw.Index + endraw.Length;
        return AfterTagEnd(endraw.Groups[2].Value is [var c] ? c : '\0', isBlockOrComment: true);
    }

    bool ReadTag(TokenKind begin, int tagStart)
    {
        bool isBlock = begin == TokenKind.BlockBegin;
        string close = isBlock ? "%}" : "}}";
        Emit(begin, source.Substring(tagStart, 2), tagStart);
        var brackets = new Stack<char>();
        while (true)
        {
            while (pos < source.Length && PythonText.IsSpace(source[pos]))
                pos++;
            if (pos >= source.Length)
                throw Error($"unexpected end of template, expected '{close}'", tagStart);
            if (brackets.Count == 0)
            {
                char sign = source[pos] is '-' or '+' && string.CompareOrdinal(source, pos + 1, close, 0, 2) == 0 ? source[pos] : '\0';
                if (sign != '\0' || string.CompareOrdinal(source, pos, close, 0, 2) == 0)
                {
                    Emit(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, close, pos);
                    pos += sign == '\0' ? 2 : 3;
                    return AfterTagEnd(sign, isBlock);
                }
            }
            char c = source[pos];
            if (char.IsLetter(c) || c == '_')
                ReadName();
            else if (char.IsAsciiDigit(c))
                ReadNumber();
            else if (c is '\'' or '"')
                ReadString();
            else
                ReadOperator(brackets);
        }
    }

    void ReadName()
    {
        int start = pos;
        while (pos < source.Length && (char.IsLetterOrDigit(source[pos]) || source[pos] == '_'))
            pos++;
        Emit(TokenKind.Name, source[start..pos], start);
    }

    void ReadNumber()
    {
        int start = pos;
        SkipDigits();
        bool isFloat = false;
        if (pos + 1 < source.Length && source[pos] == '.' && char.IsAsciiDigit(source[pos + 1]))
        {
            isFloat = true;
            pos++;
            SkipDigits();
        }
        if (pos < source.Length && source[pos] is 'e' or 'E')
        {
            int exponent = pos + 1;
            if (exponent < source.Length && source[exponent] is '+' or '-')
                exponent++;
            if (exponent < source.Length && char.IsAsciiDigit(source[exponent]))
            {
                isFloat = true;
                pos = exponent;
                SkipDigits();
            }
        }
        string text = source[start..pos];
        string digits = text.Replace("_", "");
        if (isFloat)
            tokens.Add(new Token(TokenKind.Float, text, double.Parse(digits, CultureInfo.InvariantCulture), Line(start), Column(start)));
        else if (long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
            tokens.Add(new Token(TokenKind.Integer, text, integer, Line(start), Column(start)));
        else
            throw Error($"integer literal {text} is out of range", start);
    }

    void SkipDigits()
    {
        while (pos < source.Length && (char.IsAsciiDigit(source[pos]) || (source[pos] == '_' && pos + 1 < source.Length && char.IsAsciiDigit(source[pos + 1]))))
            pos++;
    }

    void ReadString()
    {
        int start = pos;
        char quote = source[pos++];
        var value = new StringBuilder();
        while (true)
        {
            if (pos >= source.Length)
                throw Error("string literal is not closed", start);
            char c = source[pos++];
            if (c == quote)
                break;
            if (c != '\\' || pos >= source.Length)
            {
                value.Append(c);
                continue;
            }
            pos = AppendEscape(value, pos, start);
        }
        tokens.Add(new Token(TokenKind.String, source[start..pos], value.ToString(), Line(start), Column(start)));
    }

    /// <summary>Decodes one backslash escape the way Python's <c>unicode-escape</c> codec does (jinja2 uses it for string literals).</summary>
    int AppendEscape(StringBuilder value, int at, int literalStart)
    {
        char c = source[at];
        switch (c)
        {
            case '\n': return at + 1;
            case '\\' or '\'' or '"': value.Append(c); return at + 1;
            case 'n': value.Append('\n'); return at + 1;
            case 't': value.Append('\t'); return at + 1;
            case 'r': value.Append('\r'); return at + 1;
            case 'b': value.Append('\b'); return at + 1;
            case 'f': value.Append('\f'); return at + 1;
            case 'v': value.Append('\v'); return at + 1;
            case 'a': value.Append('\a'); return at + 1;
            case >= '0' and <= '7':
                {
                    int end = at;
                    while (end < source.Length && end - at < 3 && source[end] is >= '0' and <= '7')
                        end++;
                    value.Append((char)Convert.ToInt32(source[at..end], 8));
                    return end;
                }
            case 'x' or 'u' or 'U':
                {
                    int length = c switch { 'x' => 2, 'u' => 4, _ => 8 };
                    int end = at + 1 + length;
                    if (end > source.Length || !int.TryParse(source.AsSpan(at + 1, length), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int code)
                        || code > 0x10FFFF || code < 0)
                        throw Error($"string literal has a malformed \\{c} escape", literalStart);
                    value.Append(PythonText.FromCodePoint(code));
                    return end;
                }
            default:
                value.Append('\\').Append(c);
                return at + 1;
        }
    }

    void ReadOperator(Stack<char> brackets)
    {
        foreach (string op in Operators)
        {
            if (string.CompareOrdinal(source, pos, op, 0, op.Length) != 0)
                continue;
            if (op is "(" or "[" or "{")
                brackets.Push(op[0]);
            else if (op is ")" or "]" or "}")
            {
                char expected = op switch { ")" => '(', "]" => '[', _ => '{' };
                if (brackets.Count == 0 || brackets.Pop() != expected)
                    throw Error($"unexpected '{op}'", pos);
            }
            Emit(TokenKind.Operator, op, pos);
            pos += op.Length;
            return;
        }
        throw Error($"unexpected character '{source[pos]}'", pos);
    }

    void Emit(TokenKind kind, string text, int at) => tokens.Add(new Token(kind, text, null, Line(at), Column(at)));

    int Line(int offset)
    {
        int index = lineStarts.BinarySearch(offset);
        return (index >= 0 ? index : ~index - 1) + 1;
    }

    int Column(int offset) => offset - lineStarts[Line(offset) - 1] + 1;

    ChatTemplateException Error(string reason, int at) => new(ChatTemplateErrorKind.Syntax, reason, Line(at), Column(at));
}
