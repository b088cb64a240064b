using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Templates;

namespace ModelGrid.Engine.Tests.Templates;

/// <summary>Interpreter behaviours, each checked against what jinja2 3.1 (as Hugging Face configures it) renders.</summary>
public class ChatTemplateTests
{
    internal static string Render(string template, string variables = "{}") =>
        ChatTemplate.Parse(template).Render(JsonNode.Parse(variables)!.AsObject());

    // ---- printing values the way Python's str() does ----

    [Fact]
    public void PrintsPythonScalars() =>
        Assert.Equal("None|True|False|1.0|1e+16|1e-05|0.0001|5.0", Render("{{ None }}|{{ true }}|{{ False }}|{{ 1.0 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 0.0001 }}|{{ 10/2 }}"));

    [Fact]
    public void PrintsFloatsWithShortestRoundTripDigits() =>
        Assert.Equal("0.30000000000000004|1.2345678901234568e+17|1000000000000000.0", Render("{{ 0.1 + 0.2 }}|{{ 123456789012345678.0 }}|{{ 10**15 * 1.0 }}"));

    [Fact]
    public void PrintsContainersAsPythonRepr() =>
        Assert.Equal("[1, 'a', None, {'k': 1.5}]|(1,)|(\"it's\", 'q\\'\"')", Render("""{{ [1, "a", None, {"k": 1.5}] }}|{{ (1,) }}|{{ ("it's", 'q\'"') }}"""));

    [Fact]
    public void UndefinedPrintsAsEmpty() => Assert.Equal("[]", Render("[{{ missing }}]"));

    [Fact]
    public void JsonNumbersKeepIntegerOrFloatType() =>
        Assert.Equal("3|3.0|100000.0", Render("{{ a }}|{{ b }}|{{ c }}", """{"a": 3, "b": 3.0, "c": 1e5}"""));

    // ---- operators ----

    [Fact]
    public void ArithmeticFollowsPython() =>
        Assert.Equal("-4|1.0|2|7|0.5", Render("{{ -7 // 2 }}|{{ -7.5 % 2.5 + 1 }}|{{ -7 % 3 }}|{{ 1 + 2 * 3 }}|{{ 2 ** -1 }}"));

    [Fact]
    public void PowerIsLeftAssociativeAsInJinja() => Assert.Equal("64", Render("{{ 2**3**2 }}"));

    [Fact]
    public void TildeConcatenatesStringForms() => Assert.Equal("aNoneTrue1.5[1]", Render("""{{ "a" ~ none ~ true ~ 1.5 ~ [1] ~ missing }}"""));

    [Fact]
    public void PlusConcatenatesStringsAndLists() => Assert.Equal("ab|[1, 2]|abab", Render("""{{ "a" + "b" }}|{{ [1] + [2] }}|{{ "ab" * 2 }}"""));

    [Fact]
    public void FilterBindsTighterThanPlus() =>
        Assert.Equal("\nhi\n", Render("""{{ '\n' + message.content | trim + '\n' }}""", """{"message": {"content": "  hi  "}}"""));

    [Fact]
    public void ComparisonsChain() => Assert.Equal("TrueFalse", Render("{{ 3 > 2 > 1 }}{{ 1 < 3 < 2 }}"));

    [Fact]
    public void InAndNotInWorkOnStringsListsAndDicts() =>
        Assert.Equal("TrueTrueTrueTrue", Render("""{{ "b" in "abc" }}{{ 2 in [1, 2] }}{{ "k" in {"k": 1} }}{{ "x" not in "abc" }}"""));

    [Fact]
    public void AndOrReturnOperands() => Assert.Equal("fallback|0|3", Render("""{{ x or "fallback" }}|{{ 0 and 1 }}|{{ 2 and 3 }}"""));

    [Fact]
    public void ConditionalExpressionWithoutElseIsUndefined() => Assert.Equal("[]|b", Render("""[{{ 1 if false }}]|{{ "a" if x else "b" }}"""));

    [Fact]
    public void NumbersCompareAcrossIntFloatAndBool() => Assert.Equal("TrueTrueTrue", Render("{{ 1 == 1.0 }}{{ true == 1 }}{{ 1 in [true] }}"));

    // ---- subscripts and attributes ----

    [Fact]
    public void SlicesLikePython() =>
        Assert.Equal("cba|[2, 3]|[1, 3]|ef|[]|[5, 4, 3]", Render("""{{ "abc"[::-1] }}|{{ [1,2,3,4][1:3] }}|{{ [1,2,3,4][::2] }}|{{ "abcdef"[-2:] }}|{{ [1,2,3][5:] }}|{{ [1,2,3,4,5][4:1:-1] }}"""));

    [Fact]
    public void ReversesAListVariable() => Assert.Equal("[3, 2, 1]", Render("{{ x[::-1] }}", """{"x": [1, 2, 3]}"""));

    [Fact]
    public void StringsIndexByCodePoint() => Assert.Equal("a|3|b😀a", Render("""{{ "😀ab"[1] }}|{{ "😀ab"|length }}|{{ "a😀b"[::-1] }}"""));

    [Fact]
    public void MissingIndexOrKeyIsUndefined() => Assert.Equal("[][]", Render("[{{ l[10] }}][{{ d.missing }}]", """{"l": [1], "d": {}}"""));

    [Fact]
    public void NegativeIndexCountsFromTheEnd() => Assert.Equal("2", Render("{{ [1, 2][-1] }}"));

    [Fact]
    public void DotIntegerIndexesASequence() => Assert.Equal("a|b", Render("{{ x.0 }}|{{ x.1 }}", """{"x": ["a", "b"]}"""));

    [Fact]
    public void DictKeysCompareWithPythonEquality() =>
        Assert.Equal("intstrintint", Render("""{% set d = {1: "int", "1": "str"} %}{{ d[1] }}{{ d["1"] }}{{ d[1.0] }}{{ d[true] }}"""));

    [Fact]
    public void DictOrderIsPreserved() => Assert.Equal("z=1,a=2,", Render("{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}", """{"d": {"z": 1, "a": 2}}"""));

    // ---- statements ----

    [Fact]
    public void LoopVariablesDescribePosition() =>
        Assert.Equal("10TrueFalse332b;21FalseFalse321ac;32FalseTrue310b;",
            Render("{% for m in x %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}",
                """{"x": ["a", "b", "c"]}"""));

    [Fact]
    public void LoopFilterSkipsItemsBeforeCounting() => Assert.Equal("2242", Render("{% for x in [1,2,3,4] if x is even %}{{ x }}{{ loop.length }}{% endfor %}"));

    [Fact]
    public void LoopElseRunsForEmptyIterable() => Assert.Equal("empty", Render("{% for x in [] %}a{% else %}empty{% endfor %}"));

    [Fact]
    public void BreakAndContinueControlTheLoop() =>
        Assert.Equal("13", Render("{% for x in [1,2,3,4,5] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"));

    [Fact]
    public void LoopUnpacksPairs() => Assert.Equal("37", Render("{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}"));

    [Fact]
    public void NestedLoopsHaveTheirOwnLoopVariable() =>
        Assert.Equal("111,212,1;121,222,2;", Render("{% set x = [1, 2] %}{% for a in x %}{% for b in x %}{{ loop.index }}{{ a }}{{ b }},{% endfor %}{{ loop.index }};{% endfor %}"));

    [Fact]
    public void SetInsideLoopDoesNotLeakOrPersist() =>
        Assert.Equal("[1][10][1][20]1", Render("{% set x = 1 %}{% for i in [1,2] %}[{{ x }}]{% set x = i * 10 %}[{{ x }}]{% endfor %}{{ x }}"));

    [Fact]
    public void NamespaceCarriesStateOutOfLoops() =>
        Assert.Equal("7x", Render("""{% set ns = namespace(a=1, b="x") %}{% for i in [1,2,3] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns.b }}{{ ns.c }}"""));

    [Fact]
    public void NamespaceAcceptsADictArgument() => Assert.Equal("12", Render("""{{ namespace({"a": 1}, b=2).a }}{{ namespace({"a": 1}, b=2).b }}"""));

    [Fact]
    public void SetInsideIfIsVisibleAfterwards() =>
        Assert.Equal("S|1", Render("""{% if messages[0].role == "system" %}{% set sys = messages[0].content %}{% set rest = messages[1:] %}{% endif %}{{ sys }}|{{ rest|length }}""",
            """{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]}"""));

    [Fact]
    public void BlockSetCapturesAndFilters() => Assert.Equal("[BLOCK]", Render("{% set x | upper | trim %}  block {% endset %}[{{ x }}]"));

    [Fact]
    public void SetUnpacksTuples() => Assert.Equal("12", Render("{% set a, b = 1, 2 %}{{ a }}{{ b }}"));

    [Fact]
    public void IfElifElseChoosesFirstTrueBranch() => Assert.Equal("C", Render("{% if a %}A{% elif b %}B{% elif c %}C{% else %}D{% endif %}", """{"c": 1}"""));

    [Fact]
    public void MacrosTakeDefaultsAndSeeTemplateVariablesAtCallTime() =>
        Assert.Equal("[521][571][21]", Render("{% macro m(a, b=2) %}[{{a}}{{b}}{{c}}]{% endmacro %}{% set c = 1 %}{{ m(5) }}{{ m(5, b=7) }}{{ m() }}"));

    [Fact]
    public void MacrosCollectExtraArgumentsWhenTheyUseVarargs() => Assert.Equal("[1(2, 3){}]", Render("{% macro m(a) %}[{{a}}{{varargs}}{{kwargs}}]{% endmacro %}{{ m(1,2,3) }}"));

    [Fact]
    public void MacrosRecurse() => Assert.Equal("54321", Render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(5) }}"));

    [Fact]
    public void MacrosResolveNamesWhereTheyWereDefined() =>
        Assert.Equal("outer", Render("""{% set x = "outer" %}{% macro m() %}{{ x }}{% endmacro %}{% for i in [1] %}{% set x = "inner" %}{{ m() }}{% endfor %}"""));

    [Fact]
    public void RawBlocksAreNotInterpreted() => Assert.Equal("{{ not rendered }}", Render("{% raw %}{{ not rendered }}{% endraw %}"));

    [Fact]
    public void GenerationTagRendersItsBody() => Assert.Equal("ab", Render("a{% generation %}b{% endgeneration %}"));

    // ---- whitespace control (trim_blocks + lstrip_blocks, as transformers configures jinja2) ----

    [Fact]
    public void BlockTagsOnTheirOwnLineLeaveNoTrace() =>
        Assert.Equal("a\n  x\nb  y1\n  2", Render("a\n  {% if true %}\n  x\n  {% endif %}\n{# c #}\nb  {% if 1 %}y{% endif %}\n{{ 1 }}\n  {{ 2 }}\n"));

    [Fact]
    public void DashStripsAllWhitespaceOnThatSide() => Assert.Equal("abc", Render("a  {%- if true -%}  b  {%- endif -%}  c"));

    [Fact]
    public void PlusDisablesLstripBlocks() => Assert.Equal("a\n   b", Render("a\n   {%+ if true %}b{% endif %}\n"));

    [Fact]
    public void PlusDisablesTrimBlocks() => Assert.Equal("x\ny", Render("{% if true %}\nx{% endif +%}\ny"));

    [Fact]
    public void VariableTagsAreNotTrimmed() => Assert.Equal("1\n   1", Render("{% set x = 1 %}{{ x }}\n   {{ x }}"));

    [Fact]
    public void OneTrailingNewlineIsDropped() => Assert.Equal("x\n", Render("x\n\n"));

    [Fact]
    public void CarriageReturnsAreNormalized() => Assert.Equal("a\nb", Render("a\r\nb"));

    // ---- tests ----

    [Fact]
    public void TypeTestsFollowPythonTypes() =>
        Assert.Equal("TrueFalseTrueTrueTrueTrueTrueFalseTrue",
            Render("""{{ "a" is string }}{{ 1 is string }}{{ {} is mapping }}{{ [] is iterable }}{{ true is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is integer }}{{ none is none }}"""));

    [Fact]
    public void SequenceTestAcceptsStringsAndDicts() => Assert.Equal("TrueTrueFalse", Render("""{{ "a" is sequence }}{{ {} is sequence }}{{ 1 is sequence }}"""));

    [Fact]
    public void UndefinedIsIterableButNotDefined() => Assert.Equal("TrueFalseTrue", Render("{{ x is iterable }}{{ x is defined }}{{ x is undefined }}"));

    [Fact]
    public void DefinedIsTrueForNullValues() => Assert.Equal("True", Render("{{ x.y is defined }}", """{"x": {"y": null}}"""));

    [Fact]
    public void BooleanIdentityTests() => Assert.Equal("TrueFalseTrue", Render("{{ false is false }}{{ 0 is false }}{{ enable_thinking is false }}", """{"enable_thinking": false}"""));

    [Fact]
    public void TestsTakeBareArguments() => Assert.Equal("TrueFalseTrue", Render("{{ 9 is divisibleby 3 }}{{ 9 is divisibleby(4) }}{{ 2 is in [1, 2] }}"));

    [Fact]
    public void NegatedTests() => Assert.Equal("num", Render("{% if x is not none and x is not string %}num{% endif %}", """{"x": 5}"""));

    // ---- filters ----

    [Fact]
    public void ToJsonUsesPythonSeparatorsWithoutAsciiEscaping() =>
        Assert.Equal("""{"a": [1, 2.5, true, null, "é\"\\\n\t\u0001"], "b": {}, "c": []}""",
            Render("{{ x | tojson }}", """{"x": {"a": [1, 2.5, true, null, "é\"\\\n\t\u0001"], "b": {}, "c": []}}"""));

    [Fact]
    public void ToJsonIndents() =>
        Assert.Equal("{\n  \"a\": [\n    1,\n    true\n  ],\n  \"b\": {}\n}", Render("{{ x | tojson(indent=2) }}", """{"x": {"a": [1, true], "b": {}}}"""));

    [Fact]
    public void ToJsonSortsKeysAndTakesSeparators() =>
        Assert.Equal("""{"a": 2, "b": 1}|{"b":1,"a":2}""", Render("""{{ x | tojson(sort_keys=true) }}|{{ x|tojson(separators=(",", ":")) }}""", """{"x": {"b": 1, "a": 2}}"""));

    [Fact]
    public void ToJsonEscapesNonAsciiOnlyWhenAsked() => Assert.Equal("\"\\u00e9\\ud83d\\ude00\\u007f\"", Render("{{ x | tojson(ensure_ascii=true) }}", """{"x": "é😀\u007f"}"""));

    [Fact]
    public void ToJsonWritesFloatsAsPythonRepr() => Assert.Equal("[1.5, 0.1, 1e-07, 3.0, 100.0, -2.5e+20]", Render("{{ x|tojson }}", """{"x": [1.5, 0.1, 1e-7, 3.0, 100.0, -2.5e20]}"""));

    [Fact]
    public void StringFilters() =>
        Assert.Equal("ab|ab|ABC|abc|Hello World|Hello world|aybX|   abc   ",
            Render("""{{ "  ab  "|trim }}|{{ "xxabxx"|trim("x") }}|{{ "abc"|upper }}|{{ "ABC"|lower }}|{{ "hello world"|title }}|{{ "hello World"|capitalize }}|{{ "aXbX"|replace("X", "y", 1) }}|{{ "abc"|center(9) }}"""));

    [Fact]
    public void DefaultReplacesUndefinedAndOptionallyFalsy() =>
        Assert.Equal("d|None|d", Render("""{{ x|default("d") }}|{{ none|default("d") }}|{{ ""|default("d", true) }}"""));

    [Fact]
    public void LengthCountsItemsAndCodePoints() => Assert.Equal("3|0|1|2", Render("""{{ [1, 2, 3]|length }}|{{ x|length }}|{{ {"a": 1}|length }}|{{ "é😀"|length }}"""));

    [Fact]
    public void ItemsYieldsPairsOfAMapping() => Assert.Equal("[('a', 1)]", Render("{{ x|items|list }}", """{"x": {"a": 1}}"""));

    [Fact]
    public void SequenceFilters() =>
        Assert.Equal("[1, 2, 3]|[3, 2, 1]|[1, 2]|1|3|6|5|1|1,2",
            Render("{{ [3,1,2]|sort }}|{{ [3,1,2]|sort(reverse=true) }}|{{ [1,2,2,1]|unique|list }}|{{ [1,2,3]|first }}|{{ [1,2,3]|last }}|{{ [1,2,3]|sum }}|{{ [1,5,3]|max }}|{{ [4,1,3]|min }}|{{ [1, 2]|join(',') }}"));

    [Fact]
    public void SelectAndMapFilters() =>
        Assert.Equal("1,2,3|[2, 3]|[{'n': 1}]|[1, 3]|['A', 'B']",
            Render("""{{ x|map(attribute="n")|join(",") }}|{{ x|selectattr("n", "gt", 1)|map(attribute="n")|list }}|{{ x|rejectattr("n", "gt", 1)|list }}|{{ [1,2,3,4]|select("odd")|list }}|{{ ["a","b"]|map("upper")|list }}""",
                """{"x": [{"n": 1}, {"n": 2}, {"n": 3}]}"""));

    [Fact]
    public void NumberFilters() =>
        Assert.Equal("3|43|4.5|3|2.0|2.35|3|0", Render("""{{ -3|abs }}|{{ "42"|int + 1 }}|{{ "4.5"|float }}|{{ 3.7|int }}|{{ 2.5|round }}|{{ 2.345|round(2) }}|{{ 3|round }}|{{ "x"|int }}"""));

    [Fact]
    public void IndentFilter() => Assert.Equal("a\n  b\n|  a\n  b", Render("""{{ "a\nb\n"|indent(2) }}|{{ "a\nb"|indent(2, true) }}"""));

    [Fact]
    public void FormatFilterAndPercentOperator() =>
        Assert.Equal("1-a| 3.14|7   |0042|ff|'q'|%|+5|x/2",
            Render("""{{ "%s-%s"|format(1, "a") }}|{{ "%5.2f|%-4d|%04d|%x|%r|%%|%+d"|format(3.14159, 7, 42, 255, "q", 5) }}|{{ "%(a)s/%(b)d" % {"a": "x", "b": 2} }}"""));

    // ---- methods ----

    [Fact]
    public void StringSplitMethods() =>
        Assert.Equal("['a', 'b', '', 'c']|['a', 'b', 'c']|['a', 'b c']|['a b', 'c']|['a', 'b c  ']",
            Render("""{{ "a,b,,c".split(",") }}|{{ "  a b  c ".split() }}|{{ "a b c".split(" ", 1) }}|{{ "a b c".rsplit(" ", 1) }}|{{ "  a b c  ".split(None, 1) }}"""));

    [Fact]
    public void StringStripMethods() => Assert.Equal("y|a\n|  a", Render("""{{ "xyx".strip("x") }}|{{ "\n\na\n".lstrip("\n") }}|{{ "  a  ".rstrip() }}"""));

    [Fact]
    public void StringSearchMethods() =>
        Assert.Equal("TrueTrueTrue|13-1|3|a-b", Render("""{{ "abc".startswith("ab") }}{{ "abc".endswith("bc") }}{{ "abc".startswith(("x", "a")) }}|{{ "abcb".find("b") }}{{ "abcb".rfind("b") }}{{ "abc".find("z") }}|{{ "aaa".count("a") }}|{{ "-".join(["a","b"]) }}"""));

    [Fact]
    public void ThinkBlockSplittingAsQwenTemplatesDoIt() =>
        Assert.Equal("answer", Render("""{{ x.content.split('</think>')[-1].lstrip('\n') }}""", """{"x": {"content": "<think>\nabc\n</think>\n\nanswer"}}"""));

    [Fact]
    public void StringFormatMethod() => Assert.Equal("Hello x and 2", Render("""{{ "Hello {} and {n}".format("x", n=2) }}"""));

    [Fact]
    public void DictMethodsTakePriorityOverKeysForAttributes() =>
        Assert.Equal("1|None|5|['a', 'items']|2", Render("""{{ d.get("a") }}|{{ d.get("z") }}|{{ d.get("z", 5) }}|{{ d.keys()|list }}|{{ d["items"] }}""", """{"d": {"a": 1, "items": 2}}"""));

    // ---- globals ----

    [Fact]
    public void RangeAndDict() => Assert.Equal("[0, 1, 2]|[1, 4, 7]|[5, 3, 1]|{'a': 1, 'b': 2}", Render("{{ range(3)|list }}|{{ range(1, 10, 3)|list }}|{{ range(5, 0, -2)|list }}|{{ dict(a=1, b=2) }}"));

    [Fact]
    public void StringLiteralsDecodePythonEscapes() =>
        Assert.Equal("ab|it's|tab\there|éA|back\\slash|\\q", Render("""{{ "a" "b" }}|{{ 'it\'s' }}|{{ "tab\there" }}|{{ "\u00e9\x41" }}|{{ "back\\slash" }}|{{ "\q" }}"""));

    [Fact]
    public void OnlyGivenVariablesAreDefined() => Assert.Equal("[]False", Render("[{{ bos_token }}]{{ tools is defined }}"));

    [Fact]
    public void RendersVariablesBuiltInCode()
    {
        var variables = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" }),
            ["add_generation_prompt"] = true,
            ["temperature"] = 0.5,
            ["count"] = 2,
        };
        Assert.Equal("user:hi|True|0.5|3",
            ChatTemplate.Parse("{{ messages[0].role }}:{{ messages[0].content }}|{{ add_generation_prompt }}|{{ temperature }}|{{ count + 1 }}").Render(variables));
    }

    [Fact]
    public void RenderingTwiceGivesTheSameResult()
    {
        var template = ChatTemplate.Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}");
        var variables = JsonNode.Parse("""{"messages": [1, 2, 3]}""")!.AsObject();
        Assert.Equal("3", template.Render(variables));
        Assert.Equal("3", template.Render(variables));
    }
}
