using System.Text;

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>
/// Unicode Normalization Form C (UAX #15), done here rather than by <see cref="string.Normalize()"/> because the
/// engine runs with InvariantGlobalization, where the runtime has no normalization data and returns text unchanged.
/// </summary>
public static class UnicodeNfc
{
    // Hangul syllables compose and decompose algorithmically (Unicode 3.12).
    const int HangulSBase = 0xAC00, HangulLBase = 0x1100, HangulVBase = 0x1161, HangulTBase = 0x11A7;
    const int HangulLCount = 19, HangulVCount = 21, HangulTCount = 28;
    const int HangulNCount = HangulVCount * HangulTCount, HangulSCount = HangulLCount * HangulNCount;

    // Below U+0300 no character has a non-zero combining class, composes with what precedes it, or changes under NFC.
    const int FirstCodePointNfcCanChange = 0x300;

    static readonly Dictionary<int, byte> CombiningClasses = BuildCombiningClasses();
    static readonly Dictionary<int, (int First, int Second)> Decompositions = BuildDecompositions();
    static readonly Dictionary<long, int> Compositions = BuildCompositions(out SecondsOfCompositions);
    static readonly HashSet<int> SecondsOfCompositions;

    /// <summary>The NFC form of <paramref name="text"/>: the text itself when it already is (the common case), else a new string.</summary>
    public static ReadOnlySpan<char> Normalize(ReadOnlySpan<char> text)
    {
        for (int i = 0; i < text.Length;)
        {
            Rune.DecodeFromUtf16(text[i..], out Rune rune, out int width);
            if (MayChangeUnderNfc(rune.Value))
                return Compose(Decompose(text));
            i += width;
        }
        return text;
    }

    /// <summary>False only for code points that NFC provably leaves as they are, wherever they stand (NFC_Quick_Check=Yes and a starter).</summary>
    static bool MayChangeUnderNfc(int codePoint) =>
        codePoint >= FirstCodePointNfcCanChange
        && (CombiningClasses.ContainsKey(codePoint)
            || SecondsOfCompositions.Contains(codePoint)
            || (Decompositions.ContainsKey(codePoint) && !IsPrimaryComposite(codePoint)));

    static bool IsPrimaryComposite(int codePoint) =>
        Decompositions.TryGetValue(codePoint, out var parts) && parts.Second >= 0
        && Compositions.TryGetValue(PairKey(parts.First, parts.Second), out int composite) && composite == codePoint;

    static int CombiningClass(int codePoint) => CombiningClasses.TryGetValue(codePoint, out byte value) ? value : 0;

    /// <summary>Canonical decomposition followed by canonical ordering (NFD), as code points.</summary>
    static List<int> Decompose(ReadOnlySpan<char> text)
    {
        var codePoints = new List<int>(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
            AppendDecomposition(rune.Value, codePoints);
        SortCombiningMarks(codePoints);
        return codePoints;
    }

    static void AppendDecomposition(int codePoint, List<int> output)
    {
        int syllableIndex = codePoint - HangulSBase;
        if (syllableIndex is >= 0 and < HangulSCount)
        {
            output.Add(HangulLBase + syllableIndex / HangulNCount);
            output.Add(HangulVBase + syllableIndex % HangulNCount / HangulTCount);
            if (syllableIndex % HangulTCount != 0)
                output.Add(HangulTBase + syllableIndex % HangulTCount);
            return;
        }
        if (!Decompositions.TryGetValue(codePoint, out var parts))
        {
            output.Add(codePoint);
            return;
        }
        AppendDecomposition(parts.First, output);
        if (parts.Second >= 0)
            AppendDecomposition(parts.Second, output);
    }

    /// <summary>Stable sort of each run of non-starters by combining class; runs are short, so insertion sort.</summary>
    static void SortCombiningMarks(List<int> codePoints)
    {
        for (int i = 1; i < codePoints.Count; i++)
        {
            int current = codePoints[i];
            int currentClass = CombiningClass(current);
            if (currentClass == 0)
                continue;
            int j = i;
            while (j > 0 && CombiningClass(codePoints[j - 1]) > currentClass)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }
            codePoints[j] = current;
        }
    }

    /// <summary>Canonical composition: each character joins the last starter unless a character of the same or higher class stands between.</summary>
    static string Compose(List<int> codePoints)
    {
        var output = new StringBuilder(codePoints.Count);
        var composed = new List<int>(codePoints.Count);
        int starterIndex = -1;
        int lastClass = 0;
        foreach (int codePoint in codePoints)
        {
            int currentClass = CombiningClass(codePoint);
            bool adjacentToStarter = starterIndex == composed.Count - 1;
            bool blocked = !adjacentToStarter && (lastClass == 0 || lastClass >= currentClass);
            if (starterIndex >= 0 && !blocked && TryCompose(composed[starterIndex], codePoint, out int composite))
            {
                composed[starterIndex] = composite;
                continue;
            }
            if (currentClass == 0)
                starterIndex = composed.Count;
            lastClass = currentClass;
            composed.Add(codePoint);
        }
        foreach (int codePoint in composed)
            output.Append(char.ConvertFromUtf32(codePoint));
        return output.ToString();
    }

    static bool TryCompose(int first, int second, out int composite)
    {
        int lIndex = first - HangulLBase, vIndex = second - HangulVBase;
        if (lIndex is >= 0 and < HangulLCount && vIndex is >= 0 and < HangulVCount)
        {
            composite = HangulSBase + (lIndex * HangulVCount + vIndex) * HangulTCount;
            return true;
        }
        int sIndex = first - HangulSBase, tIndex = second - HangulTBase;
        if (sIndex is >= 0 and < HangulSCount && sIndex % HangulTCount == 0 && tIndex is > 0 and < HangulTCount)
        {
            composite = first + tIndex;
            return true;
        }
        return Compositions.TryGetValue(PairKey(first, second), out composite);
    }

    static long PairKey(int first, int second) => ((long)first << 32) | (uint)second;

    static Dictionary<int, byte> BuildCombiningClasses()
    {
        var classes = new Dictionary<int, byte>();
        ReadOnlySpan<int> ranges = UnicodeNfcData.CombiningClassRanges;
        for (int i = 0; i < ranges.Length; i += 3)
            for (int codePoint = ranges[i]; codePoint <= ranges[i + 1]; codePoint++)
                classes[codePoint] = (byte)ranges[i + 2];
        return classes;
    }

    static Dictionary<int, (int, int)> BuildDecompositions()
    {
        var decompositions = new Dictionary<int, (int, int)>();
        ReadOnlySpan<int> rows = UnicodeNfcData.Decompositions;
        for (int i = 0; i < rows.Length; i += 3)
            decompositions[rows[i]] = (rows[i + 1], rows[i + 2]);
        return decompositions;
    }

    static Dictionary<long, int> BuildCompositions(out HashSet<int> seconds)
    {
        var compositions = new Dictionary<long, int>();
        seconds = [];
        ReadOnlySpan<int> rows = UnicodeNfcData.Compositions;
        for (int i = 0; i < rows.Length; i += 3)
        {
            compositions[PairKey(rows[i], rows[i + 1])] = rows[i + 2];
            seconds.Add(rows[i + 1]);
        }
        for (int t = HangulTBase + 1; t < HangulTBase + HangulTCount; t++)
            seconds.Add(t);
        for (int v = HangulVBase; v < HangulVBase + HangulVCount; v++)
            seconds.Add(v);
        return compositions;
    }
}
