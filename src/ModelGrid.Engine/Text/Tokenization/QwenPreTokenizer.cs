using System.Globalization;
using System.Text;

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>The pre-tokenizer regexes of the Qwen families, by their <c>tokenizer.ggml.pre</c> names.</summary>
public enum PreTokenizerKind
{
    /// <summary>Qwen2 and Qwen3: <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c></summary>
    Qwen2,

    /// <summary>Qwen3.5: the Qwen2 pattern with combining marks joined to letters: <c>[\p{L}\p{M}]+</c> and <c>[^\s\p{L}\p{M}\p{N}]+</c>.</summary>
    Qwen35,
}

/// <summary>
/// Splits text into the pieces the Qwen pre-tokenizer regexes match, by hand rather than with
/// System.Text.RegularExpressions: .NET matches UTF-16 code units, so a character outside the BMP (𝒳, 𠮷, emoji)
/// is two "other" units to it and the splits around it differ from the code-point semantics of the
/// Rust/Oniguruma and llama.cpp matchers. Each branch below is one alternative of the pattern, tried in order,
/// with the backtracking outcome of its quantifiers worked out.
/// </summary>
public static class QwenPreTokenizer
{
    public static PreTokenizerKind ParseGgufName(string name) => name switch
    {
        "qwen2" => PreTokenizerKind.Qwen2,
        "qwen35" => PreTokenizerKind.Qwen35,
        _ => throw new NotSupportedException($"tokenizer.ggml.pre \"{name}\" is not supported (known: qwen2, qwen35)"),
    };

    public const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen35Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The kind whose Split regex a tokenizer.json carries, or null for any other pattern.</summary>
    public static PreTokenizerKind? FromSplitPattern(string pattern) => pattern switch
    {
        Qwen2Pattern => PreTokenizerKind.Qwen2,
        Qwen35Pattern => PreTokenizerKind.Qwen35,
        _ => null,
    };

    /// <summary>Appends the (start, length) of each piece of <paramref name="text"/>, in char units, in order and covering it.</summary>
    public static void Split(ReadOnlySpan<char> text, PreTokenizerKind kind, List<Range> pieces)
    {
        var scanner = new Scanner(text, kind);
        for (int start = 0; start < text.Length;)
        {
            int end = scanner.MatchEnd(start);
            pieces.Add(start..end);
            start = end;
        }
    }

    enum CharClass { Letter, Number, Space, Other }

    readonly ref struct Scanner(ReadOnlySpan<char> text, PreTokenizerKind kind)
    {
        readonly ReadOnlySpan<char> text = text;
        readonly bool marksAreLetters = kind == PreTokenizerKind.Qwen35;

        public int MatchEnd(int start)
        {
            Rune first = RuneAt(start, out int afterFirst);
            CharClass firstClass = Classify(first);

            if (first.Value == '\'' && ContractionEnd(afterFirst) is int contractionEnd)
                return contractionEnd;

            // [^\r\n\p{L}\p{N}]?\p{L}+ : a letter run, or one non-newline non-digit character and a letter run.
            if (firstClass == CharClass.Letter)
                return SkipWhile(afterFirst, CharClass.Letter);
            if (firstClass != CharClass.Number && !IsNewline(first) && afterFirst < text.Length && ClassAt(afterFirst) == CharClass.Letter)
                return SkipWhile(afterFirst, CharClass.Letter);

            if (firstClass == CharClass.Number)
                return afterFirst;

            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            if (firstClass == CharClass.Other)
                return SkipNewlines(SkipWhile(afterFirst, CharClass.Other));
            if (first.Value == ' ' && afterFirst < text.Length && ClassAt(afterFirst) == CharClass.Other)
                return SkipNewlines(SkipWhile(afterFirst, CharClass.Other));

            // The first character is white space from here on.
            int spaceEnd = SkipWhile(afterFirst, CharClass.Space);

            // \s*[\r\n]+ : \s* backs off to the last newline of the run, [\r\n]+ takes it.
            int lastNewlineEnd = -1;
            for (int i = start; i < spaceEnd;)
            {
                Rune rune = RuneAt(i, out int next);
                if (IsNewline(rune))
                    lastNewlineEnd = next;
                i = next;
            }
            if (lastNewlineEnd > 0)
                return lastNewlineEnd;

            // \s+(?!\S) : the whole run at the end of the text, else the run less its last character so the
            // next piece can take it as the prefix of a word; \s+ when that leaves nothing.
            if (spaceEnd == text.Length || spaceEnd == afterFirst)
                return spaceEnd;
            return spaceEnd - 1; // every White_Space character is in the BMP, one char wide
        }

        /// <summary>(?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe; case folding makes U+017F (ſ) an s too.</summary>
        int? ContractionEnd(int position)
        {
            if (position >= text.Length)
                return null;
            char second = FoldAsciiCase(text[position]);
            if (second is 's' or 't' or 'm' or 'd' || text[position] == 'ſ')
                return position + 1;
            if (position + 1 >= text.Length)
                return null;
            char third = FoldAsciiCase(text[position + 1]);
            return (second, third) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? position + 2 : null;
        }

        static char FoldAsciiCase(char c) => c is >= 'A' and <= 'Z' ? (char)(c + ('a' - 'A')) : c;

        static bool IsNewline(Rune rune) => rune.Value is '\r' or '\n';

        int SkipWhile(int position, CharClass wanted)
        {
            while (position < text.Length)
            {
                Rune rune = RuneAt(position, out int next);
                if (Classify(rune) != wanted)
                    break;
                position = next;
            }
            return position;
        }

        int SkipNewlines(int position)
        {
            while (position < text.Length && text[position] is '\r' or '\n')
                position++;
            return position;
        }

        CharClass ClassAt(int position) => Classify(RuneAt(position, out _));

        Rune RuneAt(int position, out int next)
        {
            // An unpaired surrogate reads as U+FFFD, as it becomes when the piece is encoded to UTF-8.
            Rune.DecodeFromUtf16(text[position..], out Rune rune, out int width);
            next = position + width;
            return rune;
        }

        CharClass Classify(Rune rune)
        {
            // Rune.IsWhiteSpace is exactly Unicode's White_Space property, which is what \s means to Oniguruma and Rust's regex.
            if (Rune.IsWhiteSpace(rune))
                return CharClass.Space;
            switch (Rune.GetUnicodeCategory(rune))
            {
                case UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter:
                    return CharClass.Letter;
                case UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark:
                    return marksAreLetters ? CharClass.Letter : CharClass.Other;
                case UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber:
                    return CharClass.Number;
                default:
                    return CharClass.Other;
            }
        }
    }
}
