namespace ModelGrid.Engine.Text.Templates;

/// <summary>
/// Recursive-descent parser for the Jinja2 subset chat templates use, following jinja2's own grammar and operator
/// precedence (filters bind tighter than arithmetic; <c>**</c> is left-associative as in jinja2, unlike Python).
/// </summary>
internal sealed class Parser
{
    /// <summary>Deeper nesting than this is rejected so hostile templates cannot overflow the stack.</summary>
    const int MaxNesting = 200;

    static readonly HashSet<string> CompareOperators = ["==", "!=", "<", ">", "<=", ">="];

    readonly List<Token> tokens;
    readonly Stack<HashSet<string>> macroNameUses = new();
    int index;
    int nesting;
    int loopDepth;

    Parser(List<Token> tokens) => this.tokens = tokens;

    public static IReadOnlyList<Statement> Parse(string source)
    {
        var parser = new Parser(Lexer.Tokenize(source));
        return parser.ParseBody([], out _);
    }

    Token Current => tokens[index];

    Token Peek(int ahead = 1) => tokens[Math.Min(index + ahead, tokens.Count - 1)];

    Token Next() => tokens[index < tokens.Count - 1 ? index++ : index];

    static SourcePosition At(Token token) => new(token.Line, token.Column);

    ChatTemplateException Error(string reason, Token token) => new(ChatTemplateErrorKind.Syntax, reason, token.Line, token.Column);

    static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.BlockEnd or TokenKind.VariableEnd => $"end of tag '{token.Text}'",
        TokenKind.Data => "template text",
        _ => $"'{token.Text}'",
    };

    NestingScope Nest() => new(this);

    ref struct NestingScope
    {
        readonly Parser parser;

        public NestingScope(Parser parser)
        {
            if (++parser.nesting > MaxNesting)
                throw parser.Error($"template nests deeper than {MaxNesting} levels", parser.Current);
            this.parser = parser;
        }

        public readonly void Dispose() => parser.nesting--;
    }

    void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op))
            throw Error($"expected '{op}' but found {Describe(Current)}", Current);
        index++;
    }

    void ExpectBlockEnd()
    {
        if (Current.Kind != TokenKind.BlockEnd)
            throw Error($"expected end of tag '%}}' but found {Describe(Current)}", Current);
        index++;
    }

    string ExpectName(string what)
    {
        if (Current.Kind != TokenKind.Name)
            throw Error($"expected {what} but found {Describe(Current)}", Current);
        return Next().Text;
    }

    bool SkipName(string name)
    {
        if (!Current.IsName(name))
            return false;
        index++;
        return true;
    }

    bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op))
            return false;
        index++;
        return true;
    }

    // ---- statements ----

    /// <summary>Parses statements until a block tag named in <paramref name="terminators"/>, consuming only that tag's name.</summary>
    List<Statement> ParseBody(string[] terminators, out string terminator)
    {
        using var scope = Nest();
        var body = new List<Statement>();
        while (true)
        {
            Token token = Current;
            switch (token.Kind)
            {
                case TokenKind.Data:
                    index++;
                    body.Add(new TextStatement(At(token), token.Text));
                    break;
                case TokenKind.VariableBegin:
                    index++;
                    Expression value = ParseTuple(withConditional: true);
                    if (Current.Kind != TokenKind.VariableEnd)
                        throw Error($"expected end of tag '}}}}' but found {Describe(Current)}", Current);
                    index++;
                    body.Add(new OutputStatement(At(token), value));
                    break;
                case TokenKind.BlockBegin:
                    Token keyword = Peek();
                    if (keyword.Kind == TokenKind.Name && terminators.Contains(keyword.Text))
                    {
                        index += 2;
                        terminator = keyword.Text;
                        return body;
                    }
                    index++;
                    ParseStatement(body, terminators);
                    break;
                case TokenKind.End:
                    if (terminators.Length > 0)
                        throw Error($"unexpected end of template, expected {string.Join(" or ", terminators.Select(t => $"'{t}'"))}", token);
                    terminator = "";
                    return body;
                default:
                    throw Error($"unexpected {Describe(token)}", token);
            }
        }
    }

    void ParseStatement(List<Statement> into, string[] enclosingTerminators)
    {
        Token keyword = Current;
        if (keyword.Kind != TokenKind.Name)
            throw Error($"expected a tag name but found {Describe(keyword)}", keyword);
        index++;
        switch (keyword.Text)
        {
            case "if": into.Add(ParseIf(keyword)); break;
            case "for": into.Add(ParseFor(keyword)); break;
            case "set": into.Add(ParseSet(keyword)); break;
            case "macro": into.Add(ParseMacro(keyword)); break;
            case "break" or "continue":
                if (loopDepth == 0)
                    throw Error($"'{keyword.Text}' outside of a for loop", keyword);
                ExpectBlockEnd();
                into.Add(new LoopControlStatement(At(keyword), keyword.Text == "break"));
                break;
            case "generation":
                // Hugging Face's AssistantTracker tag marks assistant text for training masks; it renders its body unchanged.
                ExpectBlockEnd();
                into.AddRange(ParseBody(["endgeneration"], out _));
                ExpectBlockEnd();
                break;
            default:
                string expected = enclosingTerminators.Length == 0 ? "" : $" (expected {string.Join(" or ", enclosingTerminators.Select(t => $"'{t}'"))})";
                throw Error($"unknown or unexpected tag '{keyword.Text}'{expected}", keyword);
        }
    }

    IfStatement ParseIf(Token keyword)
    {
        var branches = new List<IfBranch>();
        Expression condition = ParseTuple(withConditional: true);
        while (true)
        {
            ExpectBlockEnd();
            List<Statement> body = ParseBody(["elif", "else", "endif"], out string terminator);
            branches.Add(new IfBranch(condition, body));
            switch (terminator)
            {
                case "elif":
                    condition = ParseTuple(withConditional: true);
                    continue;
                case "else":
                    ExpectBlockEnd();
                    List<Statement> elseBody = ParseBody(["endif"], out _);
                    ExpectBlockEnd();
                    return new IfStatement(At(keyword), branches, elseBody);
                default:
                    ExpectBlockEnd();
                    return new IfStatement(At(keyword), branches, []);
            }
        }
    }

    ForStatement ParseFor(Token keyword)
    {
        AssignTarget target = ParseTargetList();
        if (!SkipName("in"))
            throw Error($"expected 'in' in for loop but found {Describe(Current)}", Current);
        Expression iterable = ParseTuple(withConditional: false);
        Expression? filter = SkipName("if") ? ParseExpression() : null;
        if (Current.IsName("recursive"))
            throw Error("recursive for loops are not supported", Current);
        ExpectBlockEnd();
        loopDepth++;
        List<Statement> body = ParseBody(["endfor", "else"], out string terminator);
        loopDepth--;
        List<Statement> elseBody = [];
        if (terminator == "else")
        {
            ExpectBlockEnd();
            elseBody = ParseBody(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStatement(At(keyword), target, iterable, filter, body, elseBody);
    }

    Statement ParseSet(Token keyword)
    {
        AssignTarget target = Current.Kind == TokenKind.Name && Peek().IsOperator(".") && Peek(2).Kind == TokenKind.Name
            ? ParseNamespaceTarget()
            : ParseTargetList();
        if (SkipOperator("="))
        {
            Expression value = ParseTuple(withConditional: true);
            ExpectBlockEnd();
            return new SetStatement(At(keyword), target, value);
        }
        var filters = new List<FilterExpression>();
        while (Current.IsOperator("|"))
        {
            Token bar = Next();
            filters.Add(ParseFilter(null, bar));
        }
        ExpectBlockEnd();
        List<Statement> body = ParseBody(["endset"], out _);
        ExpectBlockEnd();
        return new SetBlockStatement(At(keyword), target, filters, body);
    }

    NamespaceAttributeTarget ParseNamespaceTarget()
    {
        Token name = Next();
        index++;
        return new NamespaceAttributeTarget(At(name), name.Text, Next().Text);
    }

    AssignTarget ParseTargetList()
    {
        Token start = Current;
        AssignTarget first = ParseSingleTarget();
        if (!Current.IsOperator(","))
            return first;
        var items = new List<AssignTarget> { first };
        while (SkipOperator(","))
        {
            if (Current.IsName("in") || Current.IsOperator("=") || Current.IsOperator(")"))
                break;
            items.Add(ParseSingleTarget());
        }
        return new TupleTarget(At(start), items);
    }

    AssignTarget ParseSingleTarget()
    {
        Token token = Current;
        if (SkipOperator("("))
        {
            using var scope = Nest();
            AssignTarget inner = ParseTargetList();
            ExpectOperator(")");
            return inner;
        }
        string name = ExpectName("a variable name to assign to");
        if (name is "true" or "false" or "none" or "True" or "False" or "None")
            throw Error($"cannot assign to the constant '{name}'", token);
        return new NameTarget(At(token), name);
    }

    MacroStatement ParseMacro(Token keyword)
    {
        string name = ExpectName("a macro name");
        ExpectOperator("(");
        var parameters = new List<MacroParameter>();
        while (!SkipOperator(")"))
        {
            if (parameters.Count > 0)
                ExpectOperator(",");
            if (SkipOperator(")"))
                break;
            Token parameter = Current;
            string parameterName = ExpectName("a macro parameter name");
            Expression? defaultValue = SkipOperator("=") ? ParseExpression() : null;
            if (defaultValue is null && parameters.Any(p => p.Default is not null))
                throw Error($"macro '{name}': parameter '{parameterName}' without a default follows one with a default", parameter);
            parameters.Add(new MacroParameter(parameterName, defaultValue));
        }
        ExpectBlockEnd();
        macroNameUses.Push([]);
        int savedLoopDepth = loopDepth;
        loopDepth = 0;
        List<Statement> body = ParseBody(["endmacro"], out _);
        loopDepth = savedLoopDepth;
        HashSet<string> uses = macroNameUses.Pop();
        ExpectBlockEnd();
        return new MacroStatement(At(keyword), name, parameters, body, uses.Contains("varargs"), uses.Contains("kwargs"));
    }

    // ---- expressions ----

    /// <summary>An expression, or an implicit tuple <c>a, b</c> where jinja2 allows one (output, set value, for iterable).</summary>
    Expression ParseTuple(bool withConditional)
    {
        Token start = Current;
        var items = new List<Expression>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0)
            {
                if (!SkipOperator(","))
                    break;
                isTuple = true;
            }
            if (Current.Kind is TokenKind.BlockEnd or TokenKind.VariableEnd || Current.IsOperator(")") || (items.Count > 0 && Current.IsName("if")))
                break;
            items.Add(withConditional ? ParseExpression() : ParseOr());
        }
        if (isTuple)
            return new TupleExpression(At(start), items);
        if (items.Count == 0)
            throw Error($"expected an expression but found {Describe(Current)}", Current);
        return items[0];
    }

    Expression ParseExpression()
    {
        using var scope = Nest();
        Expression result = ParseOr();
        while (Current.IsName("if"))
        {
            Token keyword = Next();
            Expression condition = ParseOr();
            Expression? otherwise = SkipName("else") ? ParseExpression() : null;
            result = new ConditionalExpression(At(keyword), condition, result, otherwise);
        }
        return result;
    }

    Expression ParseOr()
    {
        Expression left = ParseAnd();
        while (Current.IsName("or"))
        {
            Token op = Next();
            left = new BinaryExpression(At(op), "or", left, ParseAnd());
        }
        return left;
    }

    Expression ParseAnd()
    {
        Expression left = ParseNot();
        while (Current.IsName("and"))
        {
            Token op = Next();
            left = new BinaryExpression(At(op), "and", left, ParseNot());
        }
        return left;
    }

    Expression ParseNot()
    {
        if (!Current.IsName("not"))
            return ParseCompare();
        using var scope = Nest();
        Token op = Next();
        return new UnaryExpression(At(op), "not", ParseNot());
    }

    Expression ParseCompare()
    {
        Token start = Current;
        Expression first = ParseMath1();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOperators.Contains(Current.Text))
                rest.Add((Next().Text, ParseMath1()));
            else if (SkipName("in"))
                rest.Add(("in", ParseMath1()));
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                index += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else
                break;
        }
        return rest.Count == 0 ? first : new CompareExpression(At(start), first, rest);
    }

    Expression ParseBinaryLevel(Func<Expression> operand, params string[] operators)
    {
        Expression left = operand();
        while (Current.Kind == TokenKind.Operator && operators.Contains(Current.Text))
        {
            Token op = Next();
            left = new BinaryExpression(At(op), op.Text, left, operand());
        }
        return left;
    }

    Expression ParseMath1() => ParseBinaryLevel(ParseConcat, "+", "-");

    Expression ParseConcat() => ParseBinaryLevel(ParseMath2, "~");

    Expression ParseMath2() => ParseBinaryLevel(ParsePow, "*", "/", "//", "%");

    Expression ParsePow() => ParseBinaryLevel(() => ParseUnary(withFilter: true), "**");

    Expression ParseUnary(bool withFilter)
    {
        using var scope = Nest();
        Token token = Current;
        Expression node;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            index++;
            node = new UnaryExpression(At(token), token.Text, ParseUnary(withFilter: false));
        }
        else
            node = ParsePostfix(ParsePrimary());
        return withFilter ? ParseFilterChain(node) : node;
    }

    Expression ParsePrimary()
    {
        Token token = Next();
        switch (token.Kind)
        {
            case TokenKind.Name:
                switch (token.Text)
                {
                    case "true" or "True": return new LiteralExpression(At(token), true);
                    case "false" or "False": return new LiteralExpression(At(token), false);
                    case "none" or "None": return new LiteralExpression(At(token), null);
                }
                foreach (HashSet<string> uses in macroNameUses)
                    uses.Add(token.Text);
                return new NameExpression(At(token), token.Text);
            case TokenKind.String:
                string text = (string)token.Value!;
                while (Current.Kind == TokenKind.String)
                    text += (string)Next().Value!;
                return new LiteralExpression(At(token), text);
            case TokenKind.Integer or TokenKind.Float:
                return new LiteralExpression(At(token), token.Value);
            case TokenKind.Operator when token.Text == "(":
                return ParseParenthesized(token);
            case TokenKind.Operator when token.Text == "[":
                return new ListExpression(At(token), ParseSequence("]"));
            case TokenKind.Operator when token.Text == "{":
                return ParseDict(token);
            default:
                throw Error($"unexpected {Describe(token)} in expression", token);
        }
    }

    Expression ParseParenthesized(Token open)
    {
        if (SkipOperator(")"))
            return new TupleExpression(At(open), []);
        Expression first = ParseExpression();
        if (SkipOperator(")"))
            return first;
        var items = new List<Expression> { first };
        while (SkipOperator(","))
        {
            if (Current.IsOperator(")"))
                break;
            items.Add(ParseExpression());
        }
        ExpectOperator(")");
        return new TupleExpression(At(open), items);
    }

    List<Expression> ParseSequence(string close)
    {
        var items = new List<Expression>();
        while (!SkipOperator(close))
        {
            if (items.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator(close))
                    break;
            }
            items.Add(ParseExpression());
        }
        return items;
    }

    DictExpression ParseDict(Token open)
    {
        var items = new List<(Expression, Expression)>();
        while (!SkipOperator("}"))
        {
            if (items.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator("}"))
                    break;
            }
            Expression key = ParseExpression();
            ExpectOperator(":");
            items.Add((key, ParseExpression()));
        }
        return new DictExpression(At(open), items);
    }

    Expression ParsePostfix(Expression node)
    {
        while (true)
        {
            Token token = Current;
            if (SkipOperator("."))
            {
                Token member = Next();
                node = member.Kind switch
                {
                    TokenKind.Name => new AttributeExpression(At(token), node, member.Text),
                    TokenKind.Integer => new IndexExpression(At(token), node, new LiteralExpression(At(member), member.Value)),
                    _ => throw Error($"expected an attribute name after '.' but found {Describe(member)}", member),
                };
            }
            else if (SkipOperator("["))
                node = ParseSubscript(token, node);
            else if (SkipOperator("("))
                node = new CallExpression(At(token), node, ParseArguments());
            else
                return node;
        }
    }

    Expression ParseSubscript(Token open, Expression target)
    {
        Expression? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression();
            if (SkipOperator("]"))
                return new IndexExpression(At(open), target, start);
        }
        ExpectOperator(":");
        Expression? stop = Current.IsOperator("]") || Current.IsOperator(":") ? null : ParseExpression();
        Expression? step = null;
        if (SkipOperator(":") && !Current.IsOperator("]"))
            step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpression(At(open), target, start, stop, step);
    }

    /// <summary>Call arguments after the opening parenthesis, through the closing one.</summary>
    ArgumentList ParseArguments()
    {
        var positional = new List<Expression>();
        var named = new List<(string, Expression)>();
        while (!SkipOperator(")"))
        {
            if (positional.Count + named.Count > 0)
            {
                ExpectOperator(",");
                if (SkipOperator(")"))
                    break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**"))
                throw Error("*args and **kwargs in calls are not supported", Current);
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                string name = Next().Text;
                index++;
                if (named.Any(n => n.Item1 == name))
                    throw Error($"keyword argument '{name}' repeated", Current);
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0)
                    throw Error("positional argument follows keyword argument", Current);
                positional.Add(ParseExpression());
            }
        }
        return new ArgumentList(positional, named);
    }

    Expression ParseFilterChain(Expression node)
    {
        while (true)
        {
            Token token = Current;
            if (SkipOperator("|"))
                node = ParseFilter(node, token);
            else if (SkipName("is"))
                node = ParseTest(node, token);
            else if (SkipOperator("("))
                node = new CallExpression(At(token), node, ParseArguments());
            else
                return node;
        }
    }

    FilterExpression ParseFilter(Expression? operand, Token bar)
    {
        Token nameToken = Current;
        string name = ExpectName("a filter name after '|'");
        if (!Filters.Has(name))
            throw Error($"no filter named '{name}'", nameToken);
        ArgumentList arguments = SkipOperator("(") ? ParseArguments() : ArgumentList.Empty;
        return new FilterExpression(At(bar), operand, name, arguments);
    }

    TestExpression ParseTest(Expression operand, Token keyword)
    {
        bool negated = SkipName("not");
        Token nameToken = Current;
        string name = ExpectName("a test name after 'is'");
        if (!Tests.Has(name))
            throw Error($"no test named '{name}'", nameToken);
        ArgumentList arguments = ArgumentList.Empty;
        if (SkipOperator("("))
            arguments = ParseArguments();
        else if (StartsBareTestArgument())
        {
            if (Current.IsName("is"))
                throw Error("tests cannot be chained with 'is'", Current);
            arguments = new ArgumentList([ParsePostfix(ParsePrimary())], []);
        }
        return new TestExpression(At(keyword), operand, name, arguments, negated);
    }

    /// <summary>jinja2 accepts one argument without parentheses, as in <c>x is divisibleby 3</c>.</summary>
    bool StartsBareTestArgument() => Current.Kind switch
    {
        TokenKind.Name => Current.Text is not ("else" or "or" or "and" or "if" or "in" or "not"),
        TokenKind.String or TokenKind.Integer or TokenKind.Float => true,
        TokenKind.Operator => Current.Text is "[" or "{",
        _ => false,
    };
}
