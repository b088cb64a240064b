using System.Text.Json.Nodes;
using ModelGrid.Server.Chat;

namespace ModelGrid.Server.Tests;

public sealed class OutputParserTests
{
    static readonly JsonArray Tools = JsonNode.Parse("""
        [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
          "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "zip": {"type": "string"}}}}}]
        """)!.AsArray();

    /// <summary>Feeds the text in pieces of <paramref name="piece"/> characters, as a stream would.</summary>
    static List<AssistantDelta> Parse(string text, int piece, bool startInReasoning = false, bool parallel = true)
    {
        var parser = new AssistantOutputParser(parseToolCalls: true, parseReasoning: true, startInReasoning, parallel, Tools);
        var deltas = new List<AssistantDelta>();
        for (int i = 0; i < text.Length; i += piece)
            deltas.AddRange(parser.Push(text.Substring(i, Math.Min(piece, text.Length - i))));
        deltas.AddRange(parser.Finish());
        return deltas;
    }

    static string Content(List<AssistantDelta> deltas) => string.Concat(deltas.OfType<ContentDelta>().Select(d => d.Text));
    static string Reasoning(List<AssistantDelta> deltas) => string.Concat(deltas.OfType<ReasoningDelta>().Select(d => d.Text));

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Qwen_json_tool_calls_become_calls_in_any_chunking(int piece)
    {
        var deltas = Parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>", piece);
        var calls = deltas.OfType<ToolCallDelta>().ToList();
        Assert.Equal(2, calls.Count);
        Assert.Equal([0, 1], calls.Select(c => c.Index));
        Assert.Equal("get_weather", calls[0].Call.Name);
        Assert.Equal("{\"city\":\"Paris\",\"days\":2}", calls[0].Call.Arguments);
        Assert.Equal("{\"city\":\"Rome\"}", calls[1].Call.Arguments);
        Assert.Equal("Let me check.\n", Content(deltas));
        Assert.NotEqual(calls[0].Id, calls[1].Id);
    }

    [Fact]
    public void Parallel_tool_calls_off_keeps_only_the_first_call()
    {
        var deltas = Parse("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call><tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>", 5, parallel: false);
        Assert.Equal("a", Assert.Single(deltas.OfType<ToolCallDelta>()).Call.Name);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void Qwen3_coder_xml_calls_take_parameter_types_from_the_tool(int piece)
    {
        var deltas = Parse("<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=zip>\n10001\n</parameter>\n</function>\n</tool_call>", piece);
        var call = Assert.Single(deltas.OfType<ToolCallDelta>()).Call;
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("{\"city\":\"New York\",\"days\":3,\"zip\":\"10001\"}", call.Arguments);
    }

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \n</tool_call>")]
    [InlineData("<tool_call>\n[1, 2]\n</tool_call>")]
    [InlineData("<tool_call>\n{\"arguments\": {}}\n</tool_call>")]
    [InlineData("<tool_call>\n{\"name\": \"f\", \"arguments\": 5}\n</tool_call>")]
    public void Malformed_tool_calls_come_back_as_content(string text)
    {
        var deltas = Parse(text, 4);
        Assert.Empty(deltas.OfType<ToolCallDelta>());
        Assert.Equal(text, Content(deltas));
    }

    [Fact]
    public void An_unterminated_call_that_parses_still_counts()
    {
        var deltas = Parse("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}", 2);
        Assert.Equal("{\"x\":1}", Assert.Single(deltas.OfType<ToolCallDelta>()).Call.Arguments);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void Think_blocks_become_reasoning(int piece)
    {
        var deltas = Parse("<think>\nThe user greets.\n</think>\n\nHello there!", piece);
        Assert.Equal("\nThe user greets.\n", Reasoning(deltas));
        Assert.Equal("Hello there!", Content(deltas));
    }

    [Fact]
    public void A_prompt_that_opened_think_starts_in_reasoning()
    {
        var deltas = Parse("pondering</think>answer", 3, startInReasoning: true);
        Assert.Equal("pondering", Reasoning(deltas));
        Assert.Equal("answer", Content(deltas));
    }

    [Fact]
    public void Think_tags_after_the_answer_began_are_plain_text()
    {
        var deltas = Parse("The tag <think> opens reasoning.", 2);
        Assert.Equal("The tag <think> opens reasoning.", Content(deltas));
        Assert.Empty(Reasoning(deltas));
    }

    [Fact]
    public void Text_that_only_looks_like_a_tag_start_is_released()
    {
        var deltas = Parse("a < b and <tool", 1);
        Assert.Equal("a < b and <tool", Content(deltas));
    }
}
