namespace ModelGrid.Engine.Text.Templates;

internal readonly record struct SourcePosition(int Line, int Column);

// ---- statements ----

internal abstract record Statement(SourcePosition Position);

internal sealed record TextStatement(SourcePosition Position, string Text) : Statement(Position);

internal sealed record OutputStatement(SourcePosition Position, Expression Value) : Statement(Position);

internal sealed record IfBranch(Expression Condition, IReadOnlyList<Statement> Body);

internal sealed record IfStatement(SourcePosition Position, IReadOnlyList<IfBranch> Branches, IReadOnlyList<Statement> Else) : Statement(Position);

internal sealed record ForStatement(
    SourcePosition Position, AssignTarget Target, Expression Iterable, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement> Else) : Statement(Position);

internal sealed record SetStatement(SourcePosition Position, AssignTarget Target, Expression Value) : Statement(Position);

/// <summary><c>{% set x | filters %}body{% endset %}</c>: captures the rendered body.</summary>
internal sealed record SetBlockStatement(
    SourcePosition Position, AssignTarget Target, IReadOnlyList<FilterExpression> Filters, IReadOnlyList<Statement> Body) : Statement(Position);

internal sealed record MacroParameter(string Name, Expression? Default);

internal sealed record MacroStatement(
    SourcePosition Position, string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Statement> Body,
    bool TakesVarargs, bool TakesKwargs) : Statement(Position);

internal sealed record LoopControlStatement(SourcePosition Position, bool IsBreak) : Statement(Position);

// ---- assignment targets ----

internal abstract record AssignTarget(SourcePosition Position);

internal sealed record NameTarget(SourcePosition Position, string Name) : AssignTarget(Position);

internal sealed record TupleTarget(SourcePosition Position, IReadOnlyList<AssignTarget> Items) : AssignTarget(Position);

/// <summary><c>{% set ns.attribute = value %}</c>, allowed only on <c>namespace()</c> objects.</summary>
internal sealed record NamespaceAttributeTarget(SourcePosition Position, string Namespace, string Attribute) : AssignTarget(Position);

// ---- expressions ----

internal abstract record Expression(SourcePosition Position);

internal sealed record LiteralExpression(SourcePosition Position, object? Value) : Expression(Position);

internal sealed record NameExpression(SourcePosition Position, string Name) : Expression(Position);

internal sealed record ListExpression(SourcePosition Position, IReadOnlyList<Expression> Items) : Expression(Position);

internal sealed record TupleExpression(SourcePosition Position, IReadOnlyList<Expression> Items) : Expression(Position);

internal sealed record DictExpression(SourcePosition Position, IReadOnlyList<(Expression Key, Expression Value)> Items) : Expression(Position);

internal sealed record AttributeExpression(SourcePosition Position, Expression Target, string Name) : Expression(Position);

internal sealed record IndexExpression(SourcePosition Position, Expression Target, Expression Index) : Expression(Position);

internal sealed record SliceExpression(SourcePosition Position, Expression Target, Expression? Start, Expression? Stop, Expression? Step) : Expression(Position);

internal sealed record ArgumentList(IReadOnlyList<Expression> Positional, IReadOnlyList<(string Name, Expression Value)> Named)
{
    public static ArgumentList Empty { get; } = new([], []);
}

internal sealed record CallExpression(SourcePosition Position, Expression Callee, ArgumentList Arguments) : Expression(Position);

internal sealed record FilterExpression(SourcePosition Position, Expression? Operand, string Name, ArgumentList Arguments) : Expression(Position);

internal sealed record TestExpression(SourcePosition Position, Expression Operand, string Name, ArgumentList Arguments, bool Negated) : Expression(Position);

internal sealed record UnaryExpression(SourcePosition Position, string Operator, Expression Operand) : Expression(Position);

/// <summary>Arithmetic (<c>+ - * / // % **</c>), concatenation (<c>~</c>) and the short-circuit <c>and</c>/<c>or</c>.</summary>
internal sealed record BinaryExpression(SourcePosition Position, string Operator, Expression Left, Expression Right) : Expression(Position);

/// <summary>A comparison chain such as <c>a &lt; b &lt;= c</c>; operators include <c>in</c> and <c>not in</c>.</summary>
internal sealed record CompareExpression(SourcePosition Position, Expression First, IReadOnlyList<(string Operator, Expression Operand)> Rest) : Expression(Position);

internal sealed record ConditionalExpression(SourcePosition Position, Expression Condition, Expression Then, Expression? Else) : Expression(Position);
