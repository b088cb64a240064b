using System.Text.Json.Nodes;
using ModelGrid.Engine.Text.Templates;

namespace ModelGrid.Engine.Tests.Templates;

/// <summary>Every case in golden/chat/cases.jsonl renders exactly as Hugging Face transformers rendered it.</summary>
public class ChatTemplateGoldenTests
{
    static readonly string CasesPath = Golden.Path("chat", "cases.jsonl");

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (JsonObject golden in ReadCases())
            data.Add(golden["template"]!.GetValue<string>(), golden["case"]!.GetValue<string>());
        return data;
    }

    static IEnumerable<JsonObject> ReadCases() =>
        File.ReadLines(CasesPath).Where(line => line.Trim().Length > 0).Select(line => JsonNode.Parse(line)!.AsObject());

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersLikeTransformers(string template, string caseName)
    {
        JsonObject golden = ReadCases().Single(c => c["template"]!.GetValue<string>() == template && c["case"]!.GetValue<string>() == caseName);
        ChatTemplate chatTemplate = ChatTemplate.Parse(File.ReadAllText(Golden.Path("chat", "templates", template)));
        var variables = golden["input"]!.AsObject().DeepClone().AsObject();

        if (golden["expected"] is JsonNode expected)
            Assert.Equal(expected.GetValue<string>(), chatTemplate.Render(variables));
        else
        {
            Assert.NotNull(golden["error"]);
            var error = Assert.Throws<ChatTemplateException>(() => chatTemplate.Render(variables));
            Assert.NotEqual(ChatTemplateErrorKind.Syntax, error.Kind);
            Assert.True(error.Line > 0, $"error should point into the template: {error.Message}");
        }
    }

    [Fact]
    public void GoldenCasesAreFound() => Assert.NotEmpty(Cases());
}
