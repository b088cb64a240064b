using System.Collections.Concurrent;
using System.Text;
using ModelGrid.Engine.Gguf;

namespace ModelGrid.Engine.Text.Tokenization;

/// <summary>
/// Byte-level BPE as Qwen models use it (Hugging Face <c>tokenizers</c> semantics): added tokens are cut out of the
/// raw text first, the rest is NFC-normalized, split by the Qwen pre-tokenizer, turned into UTF-8 bytes and merged by
/// rank. Immutable apart from a thread-safe word cache, so one instance serves concurrent requests.
/// </summary>
public sealed class ByteLevelBpeTokenizer
{
    // A word cache bounded by clearing it: serving text has a heavy-tailed vocabulary, and rebuilding a hot word is cheap.
    const int MaxCachedWords = 1 << 16;

    readonly string[] tokenTexts;
    readonly byte[][] tokenBytes;
    readonly TokenType[] tokenTypes;
    readonly Dictionary<string, int> idOfText;
    readonly int[] idOfByte = new int[256];
    readonly Dictionary<long, MergeRule> merges;
    readonly AddedTokenMatcher allAddedTokens;
    readonly AddedTokenMatcher userDefinedTokens;
    readonly bool normalizeNfc;
    readonly ConcurrentDictionary<string, int[]> wordCache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> wordCacheBySpan;
    int cachedWordCount;

    readonly record struct MergeRule(int Rank, int MergedId);

    ByteLevelBpeTokenizer(string source, string?[] texts, TokenType[] types, IReadOnlyList<(string Left, string Right)> mergePairs,
        PreTokenizerKind preTokenizer, bool normalizeNfc, int? bosTokenId, int? eosTokenId, string? chatTemplate)
    {
        PreTokenizer = preTokenizer;
        this.normalizeNfc = normalizeNfc;
        BosTokenId = bosTokenId;
        EosTokenId = eosTokenId;
        ChatTemplate = chatTemplate;
        tokenTypes = types;
        tokenTexts = new string[texts.Length];
        tokenBytes = new byte[texts.Length][];
        idOfText = new Dictionary<string, int>(texts.Length, StringComparer.Ordinal);
        for (int id = 0; id < texts.Length; id++)
        {
            // An id no entry names (a gap in a tokenizer.json vocabulary) is treated as padding.
            string text = texts[id] ?? "";
            if (texts[id] is null)
                types[id] = TokenType.Unused;
            tokenTexts[id] = text;
            tokenBytes[id] = types[id] switch
            {
                TokenType.Normal => ByteLevelAlphabet.TryDecode(text)
                    ?? throw new TokenizerFormatException($"{source}: token {id} \"{text}\" has a character outside the byte-level alphabet"),
                TokenType.Control or TokenType.UserDefined or TokenType.Unknown => Encoding.UTF8.GetBytes(text),
                TokenType.Unused => [],
                _ => throw new TokenizerFormatException($"{source}: token {id} \"{text}\" has type {types[id]}, which byte-level BPE does not use"),
            };
            if (types[id] != TokenType.Unused)
                idOfText.TryAdd(text, id);
        }

        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ToChar((byte)b).ToString();
            if (!idOfText.TryGetValue(symbol, out idOfByte[b]) || types[idOfByte[b]] != TokenType.Normal)
                throw new TokenizerFormatException($"{source}: the vocabulary has no token \"{symbol}\" for byte 0x{b:X2}");
        }

        merges = new Dictionary<long, MergeRule>(mergePairs.Count);
        for (int rank = 0; rank < mergePairs.Count; rank++)
        {
            var (left, right) = mergePairs[rank];
            int leftId = NormalTokenId(left, rank), rightId = NormalTokenId(right, rank), mergedId = NormalTokenId(left + right, rank);
            merges.TryAdd(PairKey(leftId, rightId), new MergeRule(rank, mergedId));
        }

        var added = Enumerable.Range(0, types.Length).Where(id => types[id] is TokenType.Control or TokenType.UserDefined).ToArray();
        allAddedTokens = new AddedTokenMatcher(added.Select(id => (tokenTexts[id], id)));
        userDefinedTokens = new AddedTokenMatcher(added.Where(id => types[id] == TokenType.UserDefined).Select(id => (tokenTexts[id], id)));
        wordCacheBySpan = wordCache.GetAlternateLookup<ReadOnlySpan<char>>();

        int NormalTokenId(string text, int rank) =>
            idOfText.TryGetValue(text, out int id) && types[id] == TokenType.Normal
                ? id
                : throw new TokenizerFormatException($"{source}: merge {rank} (\"{mergePairs[rank].Left} {mergePairs[rank].Right}\") uses \"{text}\", which is not a token of the vocabulary");
    }

    /// <summary>
    /// From GGUF tokenizer metadata: <c>tokenizer.ggml.tokens</c>, <c>.merges</c>, <c>.token_type</c> and <c>.pre</c>.
    /// GGUF records no normalizer; NFC is applied as Qwen's tokenizer.json does.
    /// </summary>
    public static ByteLevelBpeTokenizer FromVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<string> merges, IReadOnlyList<int> tokenTypes,
        string preTokenizer, int? bosTokenId = null, int? eosTokenId = null, string? chatTemplate = null)
    {
        const string source = "GGUF vocabulary";
        if (tokenTypes.Count != tokens.Count)
            throw new TokenizerFormatException($"{source}: tokenizer.ggml.token_type has {tokenTypes.Count} entries but tokenizer.ggml.tokens has {tokens.Count}");
        var types = new TokenType[tokens.Count];
        for (int id = 0; id < types.Length; id++)
            types[id] = tokenTypes[id] is >= (int)TokenType.Normal and <= (int)TokenType.Byte
                ? (TokenType)tokenTypes[id]
                : throw new TokenizerFormatException($"{source}: tokenizer.ggml.token_type[{id}] is {tokenTypes[id]}, not a ggml token type (1..6)");
        var mergePairs = new (string, string)[merges.Count];
        for (int rank = 0; rank < mergePairs.Length; rank++)
            mergePairs[rank] = SplitMerge(merges[rank], $"{source}: tokenizer.ggml.merges[{rank}]");
        foreach (var (name, id) in new[] { ("bos", bosTokenId), ("eos", eosTokenId) })
            if (id is int value && (uint)value >= (uint)tokens.Count)
                throw new TokenizerFormatException($"{source}: {name} token id {value} is outside the vocabulary of {tokens.Count}");
        return new ByteLevelBpeTokenizer(source, [.. tokens], types, mergePairs, QwenPreTokenizer.ParseGgufName(preTokenizer),
            normalizeNfc: true, bosTokenId, eosTokenId, chatTemplate);
    }

    /// <summary>From the tokenizer keys of a GGUF file's metadata (<c>tokenizer.ggml.model</c> must be <c>gpt2</c>, byte-level BPE).</summary>
    public static ByteLevelBpeTokenizer FromGgufMetadata(GgufMetadata metadata)
    {
        string model = metadata.GetString("tokenizer.ggml.model");
        if (model != "gpt2")
            throw new NotSupportedException($"{metadata.Source}: tokenizer.ggml.model \"{model}\" is not supported (only gpt2, byte-level BPE)");
        string[] tokens = metadata.TryGetStringArray("tokenizer.ggml.tokens") ?? throw MissingKey("tokenizer.ggml.tokens");
        string[] merges = metadata.TryGetStringArray("tokenizer.ggml.merges") ?? throw MissingKey("tokenizer.ggml.merges");
        long[] types = metadata.TryGetIntegerArray("tokenizer.ggml.token_type") ?? throw MissingKey("tokenizer.ggml.token_type");
        return FromVocabulary(tokens, merges, [.. types.Select(type => (int)Math.Clamp(type, int.MinValue, int.MaxValue))],
            metadata.GetString("tokenizer.ggml.pre"),
            (int?)metadata.TryGetInteger("tokenizer.ggml.bos_token_id"), (int?)metadata.TryGetInteger("tokenizer.ggml.eos_token_id"),
            metadata.TryGetString("tokenizer.chat_template"));

        TokenizerFormatException MissingKey(string key) => new($"{metadata.Source}: metadata key {key} is missing");
    }

    /// <summary>
    /// From a Hugging Face <c>tokenizer.json</c>, with <c>tokenizer_config.json</c> for bos/eos, the chat template and extra added tokens.
    /// The pre-tokenizer comes from the Split regex in the file unless <paramref name="preTokenizer"/> overrides it.
    /// <paramref name="modelVocabularySize"/> is the model's number of embedding rows: ids the tokenizer does not name,
    /// up to it, become padding (as GGUF conversion pads them), so every id the model can produce decodes.
    /// </summary>
    public static ByteLevelBpeTokenizer FromTokenizerJson(string tokenizerJsonPath, string? tokenizerConfigPath = null,
        PreTokenizerKind? preTokenizer = null, int modelVocabularySize = 0) =>
        HuggingFaceTokenizerFiles.Load(tokenizerJsonPath, tokenizerConfigPath, preTokenizer, modelVocabularySize);

    /// <summary>From a Hugging Face model folder: its tokenizer.json and, when present, tokenizer_config.json.</summary>
    public static ByteLevelBpeTokenizer FromHuggingFaceDirectory(string directory, int modelVocabularySize = 0)
    {
        string config = Path.Combine(directory, "tokenizer_config.json");
        return FromTokenizerJson(Path.Combine(directory, "tokenizer.json"), File.Exists(config) ? config : null, modelVocabularySize: modelVocabularySize);
    }

    internal static ByteLevelBpeTokenizer Create(string source, string?[] texts, TokenType[] types, IReadOnlyList<(string, string)> mergePairs,
        PreTokenizerKind preTokenizer, bool normalizeNfc, int? bosTokenId, int? eosTokenId, string? chatTemplate) =>
        new(source, texts, types, mergePairs, preTokenizer, normalizeNfc, bosTokenId, eosTokenId, chatTemplate);

    internal static (string Left, string Right) SplitMerge(string merge, string where)
    {
        // Byte-level symbols never contain a space (it is written Ġ), so the one space separates the pair.
        int space = merge.IndexOf(' ');
        if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
            throw new TokenizerFormatException($"{where}: \"{merge}\" is not two symbols separated by one space");
        return (merge[..space], merge[(space + 1)..]);
    }

    public PreTokenizerKind PreTokenizer { get; }

    /// <summary>Number of ids, padding included: one more than the largest id.</summary>
    public int VocabularySize => tokenTexts.Length;

    public int? BosTokenId { get; }
    public int? EosTokenId { get; }
    public string? ChatTemplate { get; }

    /// <summary>The token's vocabulary string: byte-level characters for normal tokens (<c>Ġworld</c>), the literal text for added ones.</summary>
    public string TokenText(int id) => tokenTexts[CheckId(id)];

    /// <summary>The bytes the token decodes to; empty for padding.</summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => tokenBytes[CheckId(id)];

    public TokenType GetTokenType(int id) => tokenTypes[CheckId(id)];

    /// <summary>True for special tokens such as <c>&lt;|im_end|&gt;</c>: never parsed out of untrusted text, dropped by <c>skipControlTokens</c>.</summary>
    public bool IsControl(int id) => GetTokenType(id) == TokenType.Control;

    /// <summary>Looks a token up by its vocabulary string (as <see cref="TokenText"/> gives it).</summary>
    public bool TryGetTokenId(string tokenText, out int id) => idOfText.TryGetValue(tokenText, out id);

    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="parseSpecialTokens"/> every added token in the text is
    /// recognized; without it control tokens (<c>&lt;|im_start|&gt;</c>) are encoded as plain text, as untrusted content
    /// must be, while non-special added tokens (<c>&lt;think&gt;</c>) are still recognized, as Hugging Face does.
    /// </summary>
    public int[] Encode(string text, bool parseSpecialTokens)
    {
        var ids = new List<int>();
        EncodeTo(text, parseSpecialTokens, ids);
        return [.. ids];
    }

    /// <summary><see cref="Encode"/>, appending to <paramref name="ids"/>.</summary>
    public void EncodeTo(ReadOnlySpan<char> text, bool parseSpecialTokens, List<int> ids)
    {
        var matcher = parseSpecialTokens ? allAddedTokens : userDefinedTokens;
        var pieces = new List<Range>();
        int segmentStart = 0;
        while (matcher.TryFindNext(text, segmentStart, out int tokenStart, out int tokenLength, out int tokenId))
        {
            EncodeOrdinaryText(text[segmentStart..tokenStart], ids, pieces);
            ids.Add(tokenId);
            segmentStart = tokenStart + tokenLength;
        }
        EncodeOrdinaryText(text[segmentStart..], ids, pieces);
    }

    void EncodeOrdinaryText(ReadOnlySpan<char> text, List<int> ids, List<Range> pieces)
    {
        if (text.IsEmpty)
            return;
        if (normalizeNfc && !text.IsNormalized(NormalizationForm.FormC))
            text = text.ToString().Normalize(NormalizationForm.FormC);
        pieces.Clear();
        QwenPreTokenizer.Split(text, PreTokenizer, pieces);
        foreach (Range piece in pieces)
            ids.AddRange(WordIds(text[piece]));
    }

    int[] WordIds(ReadOnlySpan<char> word)
    {
        if (wordCacheBySpan.TryGetValue(word, out int[]? cached))
            return cached;
        int maxBytes = Encoding.UTF8.GetMaxByteCount(word.Length);
        Span<byte> bytes = maxBytes <= 512 ? stackalloc byte[maxBytes] : new byte[maxBytes];
        // An unpaired surrogate becomes EF BF BD (U+FFFD), as Rust's strings hold it.
        int byteCount = Encoding.UTF8.GetBytes(word, bytes);
        int[] ids = MergeBytes(bytes[..byteCount]);
        if (Interlocked.Increment(ref cachedWordCount) > MaxCachedWords)
        {
            wordCache.Clear();
            Interlocked.Exchange(ref cachedWordCount, 0);
        }
        wordCacheBySpan.TryAdd(word, ids);
        return ids;
    }

    /// <summary>
    /// Applies merges lowest rank first, leftmost first among equal ranks, through a priority queue over a linked list
    /// of symbols so a long word costs n log n. Queue entries go stale when a neighbour merges; they are skipped when
    /// the pair at their position no longer has their rank.
    /// </summary>
    int[] MergeBytes(ReadOnlySpan<byte> bytes)
    {
        int n = bytes.Length;
        var symbols = new int[n];
        var next = new int[n];
        var previous = new int[n];
        for (int i = 0; i < n; i++)
        {
            symbols[i] = idOfByte[bytes[i]];
            next[i] = i + 1 < n ? i + 1 : -1;
            previous[i] = i - 1;
        }
        var queue = new PriorityQueue<int, long>();
        for (int i = 0; i + 1 < n; i++)
            EnqueuePair(i);

        while (queue.TryDequeue(out int left, out long priority))
        {
            int right = next[left];
            if (symbols[left] < 0 || right < 0
                || !merges.TryGetValue(PairKey(symbols[left], symbols[right]), out var rule) || rule.Rank != (int)(priority >> 32))
                continue;
            symbols[left] = rule.MergedId;
            symbols[right] = -1;
            next[left] = next[right];
            if (next[left] >= 0)
            {
                previous[next[left]] = left;
                EnqueuePair(left);
            }
            if (previous[left] >= 0)
                EnqueuePair(previous[left]);
        }

        var ids = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i])
            ids.Add(symbols[i]);
        return [.. ids];

        void EnqueuePair(int left)
        {
            if (merges.TryGetValue(PairKey(symbols[left], symbols[next[left]]), out var rule))
                queue.Enqueue(left, ((long)rule.Rank << 32) | (uint)left);
        }
    }

    static long PairKey(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>The text of <paramref name="ids"/>; bytes that do not form valid UTF-8 become U+FFFD.</summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipControlTokens = false)
    {
        var bytes = new List<byte>();
        foreach (int id in ids)
            if (!(skipControlTokens && IsControl(id)))
                bytes.AddRange(TokenBytes(id));
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>A decoder for generated tokens, one at a time, that holds back bytes of an unfinished UTF-8 character.</summary>
    public StreamingTokenDecoder CreateStreamingDecoder(bool skipControlTokens = false) => new(this, skipControlTokens);

    int CheckId(int id) =>
        (uint)id < (uint)tokenTexts.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {tokenTexts.Length}");
}
