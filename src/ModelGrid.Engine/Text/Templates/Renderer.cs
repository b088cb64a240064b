using System.Runtime.CompilerServices;
using System.Text;

namespace ModelGrid.Engine.Text.Templates;

/// <summary>
/// Variables visible at one point of the template. jinja2 gives every for-loop iteration and every macro call a
/// fresh scope (a <c>set</c> inside them does not leak out), while <c>if</c> blocks share their parent's.
/// </summary>
internal sealed class Scope(Scope? parent, IReadOnlyDictionary<string, object?>? fixedValues = null)
{
    readonly Scope? parent = parent;
    readonly IReadOnlyDictionary<string, object?>? fixedValues = fixedValues;
    readonly Dictionary<string, object?> values = [];

    public bool TryGet(string name, out object? value)
    {
        for (Scope? scope = this; scope is not null; scope = scope.parent)
        {
            if (scope.values.TryGetValue(name, out value))
                return true;
            if (scope.fixedValues is not null && scope.fixedValues.TryGetValue(name, out value))
                return true;
        }
        value = null;
        return false;
    }

    public void Set(string name, object? value) => values[name] = value;
}

/// <summary>A <c>{% macro %}</c>: renders its body in a scope that sees the variables where it was defined.</summary>
internal sealed class Macro(MacroStatement definition, Scope closure) : ITemplateCallable
{
    public string Name => definition.Name;

    public object? Invoke(Renderer renderer, CallArguments arguments)
    {
        IReadOnlyList<MacroParameter> parameters = definition.Parameters;
        if (arguments.Positional.Count > parameters.Count && !definition.TakesVarargs)
            throw TemplateRuntimeException.Runtime($"macro '{Name}' takes not more than {parameters.Count} argument(s)");
        var scope = new Scope(closure);
        var kwargs = new PyDict();
        foreach (var (name, value) in arguments.Named)
        {
            int at = parameters.ToList().FindIndex(p => p.Name == name);
            if (at < 0 && !definition.TakesKwargs)
                throw TemplateRuntimeException.Runtime($"macro '{Name}' takes no keyword argument '{name}'");
            if (at >= 0 && at < arguments.Positional.Count)
                throw TemplateRuntimeException.Runtime($"macro '{Name}' got multiple values for argument '{name}'");
            if (at < 0)
                kwargs[name] = value;
        }
        for (int i = 0; i < parameters.Count; i++)
        {
            MacroParameter parameter = parameters[i];
            object? value = i < arguments.Positional.Count ? arguments.Positional[i]
                : arguments.Named.Any(n => n.Key == parameter.Name) ? arguments.Get(int.MaxValue, parameter.Name)
                : parameter.Default is not null ? renderer.Evaluate(parameter.Default, scope)
                : new Undefined($"parameter '{parameter.Name}' was not provided");
            scope.Set(parameter.Name, value);
        }
        scope.Set("varargs", arguments.Positional.Skip(parameters.Count).ToArray());
        scope.Set("kwargs", kwargs);
        return renderer.RenderMacroBody(definition, scope);
    }
}

/// <summary>Executes a parsed template over Python-like values, enforcing <see cref="ChatTemplateLimits"/>.</summary>
internal sealed class Renderer(ChatTemplateLimits limits)
{
    enum Flow { Normal, Break, Continue }

    long iterations;
    int callDepth;

    public ChatTemplateLimits Limits { get; } = limits;

    public string Render(IReadOnlyList<Statement> template, PyDict variables)
    {
        var globals = new Scope(null, Globals.All);
        var scope = new Scope(globals);
        foreach (var (key, value) in variables)
            scope.Set((string)key, value);
        var output = new StringBuilder();
        Execute(template, scope, output);
        return output.ToString();
    }

    public string RenderMacroBody(MacroStatement macro, Scope scope)
    {
        CountIteration();
        if (++callDepth > Limits.MaxCallDepth)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"macro calls nest deeper than {Limits.MaxCallDepth} (runaway recursion in '{macro.Name}'?)");
        try
        {
            var output = new StringBuilder();
            Execute(macro.Body, scope, output);
            return output.ToString();
        }
        finally
        {
            callDepth--;
        }
    }

    void CountIteration()
    {
        if (++iterations > Limits.MaxLoopIterations)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded,
                $"rendering took more than {Limits.MaxLoopIterations} loop iterations and macro calls");
    }

    void Write(StringBuilder output, string text)
    {
        if (output.Length + (long)text.Length > Limits.MaxOutputLength)
            throw new TemplateRuntimeException(ChatTemplateErrorKind.LimitExceeded, $"output exceeds the limit of {Limits.MaxOutputLength} characters");
        output.Append(text);
    }

    Flow Execute(IReadOnlyList<Statement> statements, Scope scope, StringBuilder output)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        foreach (Statement statement in statements)
        {
            Flow flow;
            try
            {
                flow = ExecuteOne(statement, scope, output);
            }
            catch (TemplateRuntimeException e)
            {
                throw new ChatTemplateException(e.Kind, e.Message, statement.Position.Line, statement.Position.Column);
            }
            if (flow != Flow.Normal)
                return flow;
        }
        return Flow.Normal;
    }

    Flow ExecuteOne(Statement statement, Scope scope, StringBuilder output)
    {
        switch (statement)
        {
            case TextStatement text:
                Write(output, text.Text);
                return Flow.Normal;
            case OutputStatement print:
                Write(output, PythonValues.Str(Evaluate(print.Value, scope)));
                return Flow.Normal;
            case IfStatement conditional:
                foreach (IfBranch branch in conditional.Branches)
                    if (PythonValues.IsTruthy(Evaluate(branch.Condition, scope)))
                        return Execute(branch.Body, scope, output);
                return Execute(conditional.Else, scope, output);
            case ForStatement loop:
                ExecuteFor(loop, scope, output);
                return Flow.Normal;
            case SetStatement set:
                Assign(set.Target, Evaluate(set.Value, scope), scope);
                return Flow.Normal;
            case SetBlockStatement setBlock:
                {
                    var captured = new StringBuilder();
                    Execute(setBlock.Body, scope, captured);
                    object? value = captured.ToString();
                    foreach (FilterExpression filter in setBlock.Filters)
                        value = ApplyFilter(filter, value, scope);
                    Assign(setBlock.Target, value, scope);
                    return Flow.Normal;
                }
            case MacroStatement macro:
                scope.Set(macro.Name, new Macro(macro, scope));
                return Flow.Normal;
            case LoopControlStatement control:
                return control.IsBreak ? Flow.Break : Flow.Continue;
            default:
                throw new InvalidOperationException($"unknown statement {statement.GetType().Name}");
        }
    }

    void ExecuteFor(ForStatement loop, Scope scope, StringBuilder output)
    {
        IReadOnlyList<object?> items = PythonValues.Iterate(Evaluate(loop.Iterable, scope));
        if (loop.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (object? item in items)
            {
                CountIteration();
                var filterScope = new Scope(scope);
                Assign(loop.Target, item, filterScope);
                if (PythonValues.IsTruthy(Evaluate(loop.Filter, filterScope)))
                    kept.Add(item);
            }
            items = kept;
        }
        if (items.Count == 0)
        {
            Execute(loop.Else, scope, output);
            return;
        }
        var context = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            CountIteration();
            context.Index0 = i;
            var iterationScope = new Scope(scope);
            iterationScope.Set("loop", context);
            Assign(loop.Target, items[i], iterationScope);
            if (Execute(loop.Body, iterationScope, output) == Flow.Break)
                break;
        }
    }

    static void Assign(AssignTarget target, object? value, Scope scope)
    {
        switch (target)
        {
            case NameTarget name:
                scope.Set(name.Name, value);
                break;
            case TupleTarget tuple:
                {
                    IReadOnlyList<object?> items = PythonValues.Iterate(value);
                    if (items.Count != tuple.Items.Count)
                        throw TemplateRuntimeException.Runtime(items.Count > tuple.Items.Count
                            ? $"too many values to unpack (expected {tuple.Items.Count})"
                            : $"not enough values to unpack (expected {tuple.Items.Count}, got {items.Count})");
                    for (int i = 0; i < items.Count; i++)
                        Assign(tuple.Items[i], items[i], scope);
                    break;
                }
            case NamespaceAttributeTarget attribute:
                if (!scope.TryGet(attribute.Namespace, out object? found) || found is not Namespace ns)
                    throw TemplateRuntimeException.Runtime($"cannot assign attribute '{attribute.Attribute}' on non-namespace object '{attribute.Namespace}'");
                ns.Attributes[attribute.Attribute] = value;
                break;
        }
    }

    public object? Evaluate(Expression expression, Scope scope)
    {
        RuntimeHelpers.EnsureSufficientExecutionStack();
        try
        {
            return EvaluateUnchecked(expression, scope);
        }
        catch (TemplateRuntimeException e)
        {
            throw new ChatTemplateException(e.Kind, e.Message, expression.Position.Line, expression.Position.Column);
        }
    }

    object? EvaluateUnchecked(Expression expression, Scope scope)
    {
        int maxLength = Limits.MaxOutputLength;
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryGet(name.Name, out object? value) ? value : Undefined.ForName(name.Name);
            case ListExpression list:
                return list.Items.Select(item => Evaluate(item, scope)).ToList();
            case TupleExpression tuple:
                return tuple.Items.Select(item => Evaluate(item, scope)).ToArray();
            case DictExpression dict:
                {
                    var result = new PyDict();
                    foreach (var (key, item) in dict.Items)
                        result[PyDict.ToKey(Evaluate(key, scope))] = Evaluate(item, scope);
                    return result;
                }
            case AttributeExpression attribute:
                return Operators.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name);
            case IndexExpression index:
                return Operators.GetItem(Evaluate(index.Target, scope), Evaluate(index.Index, scope));
            case SliceExpression slice:
                return Operators.Slice(Evaluate(slice.Target, scope), EvaluateOptional(slice.Start, scope),
                    EvaluateOptional(slice.Stop, scope), EvaluateOptional(slice.Step, scope));
            case CallExpression call:
                {
                    object? callee = Evaluate(call.Callee, scope);
                    CallArguments arguments = EvaluateArguments(call.Arguments, scope);
                    return callee switch
                    {
                        ITemplateCallable callable => Operators.CheckLength(callable.Invoke(this, arguments), maxLength),
                        Undefined undefined => throw undefined.Fail(),
                        _ => throw TemplateRuntimeException.Runtime($"'{PythonValues.TypeName(callee)}' object is not callable"),
                    };
                }
            case FilterExpression filter:
                return ApplyFilter(filter, Evaluate(filter.Operand!, scope), scope);
            case TestExpression test:
                return Tests.Apply(this, test.Name, Evaluate(test.Operand, scope), EvaluateArguments(test.Arguments, scope)) != test.Negated;
            case UnaryExpression { Operator: "not" } not:
                return !PythonValues.IsTruthy(Evaluate(not.Operand, scope));
            case UnaryExpression unary:
                return Operators.Unary(unary.Operator, Evaluate(unary.Operand, scope));
            case BinaryExpression { Operator: "and" } and:
                {
                    object? left = Evaluate(and.Left, scope);
                    return PythonValues.IsTruthy(left) ? Evaluate(and.Right, scope) : left;
                }
            case BinaryExpression { Operator: "or" } or:
                {
                    object? left = Evaluate(or.Left, scope);
                    return PythonValues.IsTruthy(left) ? left : Evaluate(or.Right, scope);
                }
            case BinaryExpression { Operator: "~" } concat:
                return Operators.CheckLength(PythonValues.Str(Evaluate(concat.Left, scope)) + PythonValues.Str(Evaluate(concat.Right, scope)), maxLength);
            case BinaryExpression binary:
                return Operators.Binary(binary.Operator, Evaluate(binary.Left, scope), Evaluate(binary.Right, scope), maxLength);
            case CompareExpression compare:
                {
                    object? left = Evaluate(compare.First, scope);
                    foreach (var (op, operand) in compare.Rest)
                    {
                        object? right = Evaluate(operand, scope);
                        if (!Compare(op, left, right))
                            return false;
                        left = right;
                    }
                    return true;
                }
            case ConditionalExpression conditional:
                return PythonValues.IsTruthy(Evaluate(conditional.Condition, scope)) ? Evaluate(conditional.Then, scope)
                    : conditional.Else is not null ? Evaluate(conditional.Else, scope)
                    : new Undefined($"the inline if-expression on line {conditional.Position.Line} evaluated to false and no else section was defined");
            default:
                throw new InvalidOperationException($"unknown expression {expression.GetType().Name}");
        }
    }

    static bool Compare(string op, object? left, object? right) => op switch
    {
        "==" => PythonValues.AreEqual(left, right),
        "!=" => !PythonValues.AreEqual(left, right),
        "in" => PythonValues.Contains(right, left),
        "not in" => !PythonValues.Contains(right, left),
        _ => PythonValues.Compare(left, right, op),
    };

    object? EvaluateOptional(Expression? expression, Scope scope) => expression is null ? null : Evaluate(expression, scope);

    CallArguments EvaluateArguments(ArgumentList arguments, Scope scope) => new(
        arguments.Positional.Select(argument => Evaluate(argument, scope)).ToList(),
        arguments.Named.Select(named => KeyValuePair.Create(named.Name, Evaluate(named.Value, scope))).ToList());

    object? ApplyFilter(FilterExpression filter, object? operand, Scope scope)
    {
        try
        {
            return Operators.CheckLength(Filters.Apply(this, filter.Name, operand, EvaluateArguments(filter.Arguments, scope)), Limits.MaxOutputLength);
        }
        catch (TemplateRuntimeException e)
        {
            throw new ChatTemplateException(e.Kind, $"filter '{filter.Name}': {e.Message}", filter.Position.Line, filter.Position.Column);
        }
    }
}
