using System.Text;
using ModelGrid.Engine.Text.Tokenization;

namespace ModelGrid.Engine.Tests.Tokenization;

/// <summary>
/// golden/tokenizer cases (Hugging Face reference ids; llama.cpp and transformers.js agree) through every way of
/// loading the vocabulary. tokenizer.json@KIND is tokenizer.json with its Split regex overridden by the explicit
/// pre-tokenizer parameter, for the cases file of that pre-tokenizer.
/// </summary>
public sealed class GoldenTokenizerCaseTests
{
    public static TheoryData<string, string, int> Cases()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var (source, casesFile) in GoldenTokenizers.SourcesWithCases())
            for (int i = 0; i < GoldenTokenizers.CaseCount(casesFile); i++)
                data.Add(source, casesFile, i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encoding_with_special_tokens_matches_reference(string source, string casesFile, int index)
    {
        var testCase = GoldenTokenizers.ReadCase(casesFile, index);
        Assert.Equal(testCase.Ids, GoldenTokenizers.Get(source).Encode(testCase.Text, parseSpecialTokens: true));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Encoding_untrusted_text_matches_reference(string source, string casesFile, int index)
    {
        var testCase = GoldenTokenizers.ReadCase(casesFile, index);
        Assert.Equal(testCase.IdsNoSpecial, GoldenTokenizers.Get(source).Encode(testCase.Text, parseSpecialTokens: false));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decoding_reference_ids_gives_the_nfc_text(string source, string casesFile, int index)
    {
        var testCase = GoldenTokenizers.ReadCase(casesFile, index);
        var tokenizer = GoldenTokenizers.Get(source);
        string nfc = testCase.Text.Normalize(System.Text.NormalizationForm.FormC);

        Assert.Equal(nfc, tokenizer.Decode(testCase.Ids));
        Assert.Equal(nfc, tokenizer.Decode(testCase.IdsNoSpecial));
        Assert.Equal(Encoding.UTF8.GetBytes(nfc), testCase.Ids.SelectMany(id => tokenizer.TokenBytes(id).ToArray()).ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Streaming_decode_of_reference_ids_gives_the_nfc_text(string source, string casesFile, int index)
    {
        var testCase = GoldenTokenizers.ReadCase(casesFile, index);
        var decoder = GoldenTokenizers.Get(source).CreateStreamingDecoder();
        var chunks = testCase.IdsNoSpecial.Select(decoder.Append).ToList();
        chunks.Add(decoder.Flush());

        Assert.Equal(testCase.Text.Normalize(System.Text.NormalizationForm.FormC), string.Concat(chunks));
    }
}
