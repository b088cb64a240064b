using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Models;
using ModelGrid.Server.Structured;
using NJsonSchema;

namespace ModelGrid.Server.Tests;

public sealed class GrammarTests
{
    static bool Matches(GrammarNode grammar, string text)
    {
        var matcher = new GrammarMatcher(grammar);
        matcher.Accept(Encoding.UTF8.GetBytes(text));
        return matcher.IsComplete;
    }

    static GrammarNode Schema(string json) => JsonSchemaGrammar.Compile(JsonNode.Parse(json));

    [Theory]
    [InlineData("""{"a":1,"b":"x"}""", true)]
    [InlineData("""{"a":-0.5e+3}""", true)]
    [InlineData("""{"b":"x"}""", false)] // a is required
    [InlineData("""{"a":1,"b":"toolong"}""", false)]
    [InlineData("""{"a":01}""", false)]
    [InlineData("""{"a":1,"c":[true,null]}""", true)]
    [InlineData("""{"a":1,"c":[true,null,false]}""", false)] // maxItems 2
    [InlineData("""{"a":1,"b":"\u00e9\"q"}""", true)]
    [InlineData("""{"b":"x","a":1}""", false)] // properties come in schema order
    [InlineData("""{"a":1} """, false)] // compact output: no trailing whitespace
    public void Schema_grammar_accepts_exactly_the_valid_compact_documents(string text, bool valid)
    {
        var grammar = Schema("""
            {"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string","maxLength":3},
             "c":{"type":"array","items":{"type":["boolean","null"]},"maxItems":2}},"required":["a"]}
            """);
        Assert.Equal(valid, Matches(grammar, text));
    }

    [Fact]
    public void Recursive_references_and_enums_compile()
    {
        var grammar = Schema("""
            {"$defs":{"node":{"type":"object","properties":{"kind":{"enum":["leaf","branch"]},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["kind"]}},
             "$ref":"#/$defs/node"}
            """);
        Assert.True(Matches(grammar, """{"kind":"branch","children":[{"kind":"leaf"},{"kind":"branch","children":[]}]}"""));
        Assert.False(Matches(grammar, """{"kind":"tree"}"""));
    }

    [Fact]
    public void Any_object_accepts_nested_json()
    {
        Assert.True(Matches(JsonSchemaGrammar.AnyObject(), """{"a":[1,{"b":null}],"c":"d","e":{}}"""));
        Assert.False(Matches(JsonSchemaGrammar.AnyObject(), "[1]"));
    }

    /// <summary>
    /// Whatever the logits say (here: random), masked sampling yields a document that parses and validates, and
    /// the end-of-generation token comes exactly when the document is complete.
    /// </summary>
    [Fact]
    public async Task Constrained_sampling_over_random_logits_always_produces_a_valid_document()
    {
        const string schemaText = """
            {"type":"object","properties":{"id":{"type":"integer"},"label":{"type":"string","maxLength":6},
             "flags":{"type":"array","items":{"type":"boolean"},"maxItems":4},"kind":{"enum":["a","b",null]}},
             "required":["id","label","flags","kind"]}
            """;
        using var model = LanguageModel.Load(TestModels.Paths(1)[0], new ModelOptions { Threads = 1 });
        var schema = await JsonSchema.FromJsonAsync(schemaText);
        var random = new Random(5);
        for (int trial = 0; trial < 20; trial++)
        {
            var constraint = new GrammarConstraint(Schema(schemaText), model.Tokenizer, model.EndOfGenerationTokens);
            var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = 0, TopP = 1, MinP = 0, Seed = (ulong)trial });
            var tokens = new List<int>();
            float[] logits = new float[model.Decoder.VocabSize];
            while (true)
            {
                for (int i = 0; i < logits.Length; i++)
                    logits[i] = (float)(random.NextDouble() * 8);
                constraint.Mask(logits);
                int token = sampler.Sample(logits, []);
                Assert.False(float.IsNegativeInfinity(logits[token]));
                if (model.EndOfGenerationTokens.Contains(token))
                    break;
                constraint.Accept(token);
                tokens.Add(token);
                Assert.True(tokens.Count < 400, "the document never ended");
            }
            string json = model.Tokenizer.Decode([.. tokens]);
            Assert.Empty(schema.Validate(json));
            Assert.Equal(JsonValueKind.Object, JsonDocument.Parse(json).RootElement.ValueKind);
        }
    }
}
