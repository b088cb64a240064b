using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Templates;

namespace ModelGrid.Engine.Tests.Templates;

/// <summary>Failures surface as <see cref="ChatTemplateException"/> naming the problem and where it is.</summary>
public class ChatTemplateErrorTests
{
    static ChatTemplateException ParseError(string template) => Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template));

    static ChatTemplateException RenderError(string template, string variables = "{}") =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template).Render(JsonNode.Parse(variables)!.AsObject()));

    [Fact]
    public void UnknownTagReportsItsLineAndColumn()
    {
        var error = ParseError("line one\n  {% frobnicate %}");
        Assert.Equal(ChatTemplateErrorKind.Syntax, error.Kind);
        Assert.Equal((2, 6), (error.Line, error.Column));
        Assert.Contains("frobnicate", error.Message);
        Assert.Contains("line 2, column 6", error.Message);
    }

    [Fact]
    public void UnclosedBlockNamesTheMissingEndTag() => Assert.Contains("'endfor'", ParseError("{% for x in y %}no end").Message);

    [Fact]
    public void UnknownFilterIsASyntaxError() => Assert.Contains("'nosuchfilter'", ParseError("{{ x | nosuchfilter }}").Message);

    [Fact]
    public void UnknownTestIsASyntaxError() => Assert.Contains("'nosuchtest'", ParseError("{{ x is nosuchtest }}").Message);

    [Fact]
    public void UnterminatedStringIsASyntaxError() => Assert.Equal(ChatTemplateErrorKind.Syntax, ParseError("{{ \"unterminated }}").Kind);

    [Fact]
    public void IncompleteExpressionIsASyntaxError()
    {
        var error = ParseError("{{ 1 + }}");
        Assert.Equal((1, 8), (error.Line, error.Column));
    }

    [Fact]
    public void MismatchedEndTagIsASyntaxError() => Assert.Contains("endfor", ParseError("{% if x %}{% endfor %}").Message);

    [Fact]
    public void BreakOutsideLoopIsASyntaxError() => Assert.Contains("break", ParseError("{% break %}").Message);

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesMessage()
    {
        var error = RenderError("ok\n{{ raise_exception('No user query found in messages.') }}");
        Assert.Equal(ChatTemplateErrorKind.Raised, error.Kind);
        Assert.Equal("No user query found in messages.", error.Reason);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public void AttributeOfUndefinedIsAnError() => Assert.Contains("'dict object' has no attribute 'y'", RenderError("{{ x.y.z }}", """{"x": {}}""").Message);

    [Fact]
    public void AddingUndefinedIsAnError() => Assert.Contains("'x' is undefined", RenderError("{{ x + 'a' }}").Message);

    [Fact]
    public void AddingStringAndIntIsAnError() => Assert.Equal(ChatTemplateErrorKind.Runtime, RenderError("{{ 'a' + 1 }}").Kind);

    [Fact]
    public void ItemsOfNonMappingIsAnError() =>
        Assert.Contains("Can only get item pairs from a mapping.", RenderError("{% for k, v in d|items %}{% endfor %}", """{"d": "text"}""").Message);

    [Fact]
    public void AssigningAttributeOnNonNamespaceIsAnError() => Assert.Contains("non-namespace", RenderError("{% set x = 1 %}{% set x.y = 2 %}").Message);

    [Fact]
    public void UnpackingWrongCountIsAnError() => Assert.Contains("too many values", RenderError("{% for a, b in [(1, 2, 3)] %}{% endfor %}").Message);

    [Fact]
    public void MutatingMethodsAreRefused() => Assert.Contains("unsafe", RenderError("{{ x.append(1) }}", """{"x": []}""").Message);

    [Fact]
    public void DivisionByZeroIsAnError() => Assert.Contains("division", RenderError("{{ 1 / 0 }}").Message);

    [Fact]
    public void UndefinedToJsonIsAnError() => Assert.Contains("not JSON serializable", RenderError("{{ x | tojson }}").Message);

    [Fact]
    public void OrderingMixedTypesIsAnError() => Assert.Contains("not supported between", RenderError("{{ 'a' < 1 }}").Message);

    [Fact]
    public void TooManyMacroArgumentsIsAnError() => Assert.Contains("takes not more than 1", RenderError("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}").Message);

    [Fact]
    public void SortingUnorderableValuesIsAnError() => Assert.Contains("not supported between", RenderError("{{ [1, 'a', 2]|sort }}").Message);
}
