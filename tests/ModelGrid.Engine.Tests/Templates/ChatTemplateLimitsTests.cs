using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Templates;

namespace ModelGrid.Engine.Tests.Templates;

/// <summary>Runaway templates stop with <see cref="ChatTemplateErrorKind.LimitExceeded"/>: no hang, no crash.</summary>
public class ChatTemplateLimitsTests
{
    static ChatTemplateException LimitError(string template, ChatTemplateLimits? limits = null)
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template).Render(new JsonObject(), limits));
        Assert.Equal(ChatTemplateErrorKind.LimitExceeded, error.Kind);
        return error;
    }

    [Fact]
    public void NestedLoopsStopAtTheIterationLimit() =>
        Assert.Contains("1000 loop iterations", LimitError("{% for a in range(100) %}{% for b in range(100) %}{% endfor %}{% endfor %}",
            new ChatTemplateLimits { MaxLoopIterations = 1000 }).Message);

    [Fact]
    public void LoopsWithinTheLimitRun() =>
        Assert.Equal(new string('x', 1000), ChatTemplate.Parse("{% for a in range(10) %}{% for b in range(100) %}x{% endfor %}{% endfor %}")
            .Render(new JsonObject(), new ChatTemplateLimits { MaxLoopIterations = 1010 }));

    [Fact]
    public void DefaultIterationLimitStopsAQuadraticBlowUp() =>
        LimitError("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");

    [Fact]
    public void OutputStopsAtTheLengthLimit() =>
        Assert.Contains("100 characters", LimitError("{% for i in range(50) %}xxxxxxxxxx{% endfor %}", new ChatTemplateLimits { MaxOutputLength = 100 }).Message);

    [Fact]
    public void DoublingAStringStopsAtTheLengthLimit() =>
        LimitError("""{% set ns = namespace(s="ab") %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}""");

    [Fact]
    public void RepeatingAStringDoesNotAllocatePastTheLimit() => LimitError("{{ 'a' * 1000000000000 }}");

    [Fact]
    public void HugeRangeIsRefused() => LimitError("{% for i in range(10000000000) %}{% endfor %}");

    [Fact]
    public void InfiniteRecursionStopsAtTheCallDepth() =>
        Assert.Contains("deeper than 100", LimitError("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").Message);

    [Fact]
    public void ExponentialMacroFanOutStopsAtTheIterationLimit() =>
        LimitError("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}");

    [Fact]
    public void DeeplyNestedExpressionIsRejectedNotOverflowed()
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}"));
        Assert.Equal(ChatTemplateErrorKind.Syntax, error.Kind);
    }

    [Fact]
    public void DeeplyNestedBlocksAreRejectedNotOverflowed()
    {
        string template = string.Concat(Enumerable.Repeat("{% if true %}", 50_000)) + string.Concat(Enumerable.Repeat("{% endif %}", 50_000));
        Assert.Equal(ChatTemplateErrorKind.Syntax, Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template)).Kind);
    }
}
