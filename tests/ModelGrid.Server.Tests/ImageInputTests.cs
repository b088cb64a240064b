using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.AI;
using ModelGrid.Engine;
using ModelGrid.Engine.Generation;
using ModelGrid.Engine.Vision;
using ModelGrid.Server.Chat;
using OpenAI.Chat;

namespace ModelGrid.Server.Tests;

/// <summary>Images in chat requests: OpenAI content parts through the SDK, Microsoft.Extensions.AI DataContent, and the refusals.</summary>
// In the server collection so that it does not run beside it: two cores, and the scheduling tests time their streams.
[Collection(ServerCollection.Name)]
public sealed class ImageInputTests(VisionServerFixture fixture) : IClassFixture<VisionServerFixture>
{
    const string SystemPrompt = "You are a helpful assistant.";
    // Thinking off (Qwen's soft switch, which the server reads), so that the whole reply is content for every template.
    const string Question = "What is in this picture? /no_think";
    const int MaxTokens = 12;

    static ChatCompletionOptions Greedy => new() { Temperature = 0, MaxOutputTokenCount = MaxTokens };

    static List<OpenAI.Chat.ChatMessage> SdkMessages(IEnumerable<string> images, string question = Question) =>
    [
        new SystemChatMessage(SystemPrompt),
        new UserChatMessage([.. images.Select(path => ChatMessageContentPart.CreateImagePart(BinaryData.FromBytes(File.ReadAllBytes(path)), VisionServerFixture.MediaType(path))),
            ChatMessageContentPart.CreateTextPart(question)]),
    ];

    /// <summary>The same conversation as the engine takes it: image placeholders in the template, embeddings beside the ids.</summary>
    static (int[] Ids, ImageEmbedding[] Images) EnginePrompt(LanguageModel model, IReadOnlyList<string> images, string question = Question)
    {
        var messages = new JsonArray(
            new JsonObject { ["role"] = "system", ["content"] = SystemPrompt },
            new JsonObject { ["role"] = "user", ["content"] = new JsonArray([.. images.Select(_ => (JsonNode)new JsonObject { ["type"] = "image" }), new JsonObject { ["type"] = "text", ["text"] = question }]) });
        var prompt = ChatPrompt.Encode(model, messages, templateArguments: new JsonObject { ["enable_thinking"] = false });
        Assert.Equal(images.Count, prompt.ImageCount);
        return (prompt.Ids, [.. images.Select(path => model.EncodeImage(File.ReadAllBytes(path)))]);
    }

    static int Rows(int[] ids, ImageEmbedding[] images) => ids.Length + images.Sum(image => image.TokenCount - 1);

    [Fact]
    public async Task Concurrent_greedy_image_chats_equal_the_engines_output_and_count_image_tokens()
    {
        // Every golden (model, image) case plus one message with two images, all at once: image rows share steps with
        // other sequences' prompt chunks and decode tokens.
        var cases = fixture.Models.SelectMany(model => model.Images.Select(image => (Model: model, Images: (IReadOnlyList<string>)[image]))
            .Append((model, model.Images.Take(2).ToList()))).ToList();
        var expected = new List<(string Text, int Rows)>();
        foreach (var (model, images) in cases)
        {
            var (ids, embeddings) = EnginePrompt(model.Model, images);
            expected.Add((await TestModels.EngineGreedyAsync(model.Model, ids, MaxTokens, embeddings), Rows(ids, embeddings)));
        }

        var replies = await Task.WhenAll(cases.Select(c => CompleteAsync(c.Model.Name, c.Images)));

        for (int i = 0; i < cases.Count; i++)
        {
            Assert.Equal(expected[i].Text, replies[i].Content[0].Text);
            Assert.Equal(expected[i].Rows, replies[i].Usage.InputTokenCount);
        }
    }

    async Task<OpenAI.Chat.ChatCompletion> CompleteAsync(string model, IReadOnlyList<string> images) =>
        (await fixture.OpenAI.GetChatClient(model).CompleteChatAsync(SdkMessages(images), Greedy)).Value;

    [Fact]
    public async Task A_cached_image_prefix_is_reused_only_by_a_prompt_with_the_same_image()
    {
        var model = fixture.Models.First(m => m.Images.Count >= 2);
        var chat = fixture.OpenAI.GetChatClient(model.Name);
        string question = "Describe the colours you see. /no_think";
        var (ids, first) = EnginePrompt(model.Model, [model.Images[0]], question);
        var (otherIds, second) = EnginePrompt(model.Model, [model.Images[1]], question);
        Assert.True(model.Model.Tokenizer.TryGetTokenId("<|image_pad|>", out int slot));
        int imageRow = Array.IndexOf(ids, slot);

        var original = (await chat.CompleteChatAsync(SdkMessages([model.Images[0]], question), Greedy)).Value;
        var otherImage = (await chat.CompleteChatAsync(SdkMessages([model.Images[1]], question), Greedy)).Value;
        var sameImage = (await chat.CompleteChatAsync(SdkMessages([model.Images[0]], question), Greedy)).Value;

        Assert.Equal(await TestModels.EngineGreedyAsync(model.Model, otherIds, MaxTokens, second), otherImage.Content[0].Text);
        Assert.Equal(original.Content[0].Text, sameImage.Content[0].Text);
        Assert.InRange(otherImage.Usage.InputTokenDetails.CachedTokenCount, 0, imageRow); // never past the image that differs
        Assert.True(sameImage.Usage.InputTokenDetails.CachedTokenCount > imageRow + first[0].TokenCount - 1,
            $"the same image reused {sameImage.Usage.InputTokenDetails.CachedTokenCount} rows; the image ends at row {imageRow + first[0].TokenCount}");
    }

    [Fact]
    public async Task Several_image_url_parts_in_raw_json_are_accepted_with_data_urls()
    {
        var model = fixture.Models[0];
        var images = model.Images.Take(2).ToList();
        var (ids, embeddings) = EnginePrompt(model.Model, images);
        var content = new JsonArray([.. images.Select(path => (JsonNode)new JsonObject
        {
            ["type"] = "image_url",
            ["image_url"] = new JsonObject { ["url"] = $"data:{VisionServerFixture.MediaType(path)};base64,{Convert.ToBase64String(File.ReadAllBytes(path))}" },
        }), new JsonObject { ["type"] = "text", ["text"] = Question }]);

        var (status, body) = await fixture.PostAsync("/v1/chat/completions", Request(model.Name, content));

        Assert.Equal(200, status);
        Assert.Equal(await TestModels.EngineGreedyAsync(model.Model, ids, MaxTokens, embeddings), (string)body["choices"]![0]!["message"]!["content"]!);
        Assert.Equal(Rows(ids, embeddings), (int)body["usage"]!["prompt_tokens"]!);
    }

    static JsonObject Request(string model, JsonArray content) => new()
    {
        ["model"] = model,
        ["messages"] = new JsonArray(
            new JsonObject { ["role"] = "system", ["content"] = SystemPrompt },
            new JsonObject { ["role"] = "user", ["content"] = content }),
        ["max_tokens"] = MaxTokens,
        ["temperature"] = 0,
    };

    static JsonArray ImageThenText(string url) =>
        [new JsonObject { ["type"] = "image_url", ["image_url"] = new JsonObject { ["url"] = url } }, new JsonObject { ["type"] = "text", ["text"] = Question }];

    [Fact]
    public async Task A_remote_image_url_is_refused_naming_the_field()
    {
        var (status, body) = await fixture.PostAsync("/v1/chat/completions", Request(fixture.Models[0].Name, ImageThenText("https://example.com/cat.png")));

        Assert.Equal(400, status);
        Assert.Equal("messages[1].content[0].image_url.url", (string?)body["error"]!["param"]);
        Assert.Equal("remote_images_disabled", (string?)body["error"]!["code"]);
        Assert.Contains("--allow-remote-images", (string)body["error"]!["message"]!);
    }

    [Fact]
    public async Task A_model_without_a_vision_tower_is_refused_naming_the_model()
    {
        string image = fixture.Models[0].Images[0];
        var messages = SdkMessages([image]);

        var error = await Assert.ThrowsAsync<System.ClientModel.ClientResultException>(() => fixture.OpenAI.GetChatClient(fixture.TextModelName).CompleteChatAsync(messages, Greedy));

        Assert.Equal(400, error.Status);
        Assert.Contains($"'{fixture.TextModelName}' has no vision tower", error.Message);
    }

    [Fact]
    public async Task A_corrupt_image_is_refused_with_the_decoders_message()
    {
        var model = fixture.Models[0];
        byte[] file = File.ReadAllBytes(model.Images[0]);
        byte[] truncated = file[..(file.Length / 2)];
        string decoderMessage = Assert.Throws<ImageFormatException>(() => model.Model.EncodeImage(truncated)).Message;

        var (status, body) = await fixture.PostAsync("/v1/chat/completions",
            Request(model.Name, ImageThenText("data:image/png;base64," + Convert.ToBase64String(truncated))));

        Assert.Equal(400, status);
        Assert.Equal("invalid_image", (string?)body["error"]!["code"]);
        Assert.Equal("messages[1].content[0].image_url.url", (string?)body["error"]!["param"]);
        Assert.Contains(decoderMessage, (string)body["error"]!["message"]!);
    }

    [Fact]
    public async Task Data_content_images_through_the_in_process_chat_client_equal_the_engine()
    {
        var model = fixture.Models[^1];
        string image = model.Images[0];
        var (ids, embeddings) = EnginePrompt(model.Model, [image]);
        using var client = new ModelGridChatClient(model.Model);

        var response = await client.GetResponseAsync(
            [
                new Microsoft.Extensions.AI.ChatMessage(ChatRole.System, SystemPrompt),
                new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, [new DataContent(File.ReadAllBytes(image), VisionServerFixture.MediaType(image)), new TextContent(Question)]),
            ],
            new ChatOptions { Temperature = 0, MaxOutputTokens = MaxTokens });

        Assert.Equal(await TestModels.EngineGreedyAsync(model.Model, ids, MaxTokens, embeddings), response.Text);
        Assert.Equal(Rows(ids, embeddings), response.Usage?.InputTokenCount);
    }

    [Fact]
    public async Task Remote_images_are_fetched_when_enabled_within_the_size_limit()
    {
        var model = fixture.Models[0];
        byte[] file = File.ReadAllBytes(model.Images[0]);
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var images = builder.Build();
        images.MapGet("/image", () => Results.Bytes(file, VisionServerFixture.MediaType(model.Images[0])));
        await images.StartAsync();
        string url = images.Urls.First() + "/image";
        var options = ServerFixture.Options() with { Images = new ImageInputOptions { AllowRemoteImages = true, MaxImageBytes = file.Length } };
        await using var server = await ModelServer.StartAsync(options, [(model.Name, model.Model)]);
        using var http = new HttpClient { BaseAddress = new Uri(server.Url) };

        using var fetched = await http.PostAsJsonAsync("/v1/chat/completions", Request(model.Name, ImageThenText(url)));
        using var inline = await http.PostAsJsonAsync("/v1/chat/completions",
            Request(model.Name, ImageThenText($"data:image/png;base64,{Convert.ToBase64String(file)}")));
        await using var tooSmall = await ModelServer.StartAsync(options with { Images = options.Images with { MaxImageBytes = file.Length - 1 } }, [(model.Name, model.Model)]);
        using var tooSmallHttp = new HttpClient { BaseAddress = new Uri(tooSmall.Url) };
        using var refused = await tooSmallHttp.PostAsJsonAsync("/v1/chat/completions", Request(model.Name, ImageThenText(url)));

        Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        Assert.Equal(Content(await fetched.Content.ReadFromJsonAsync<JsonObject>()), Content(await inline.Content.ReadFromJsonAsync<JsonObject>()));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("image_too_large", (string?)(await refused.Content.ReadFromJsonAsync<JsonObject>())!["error"]!["code"]);
    }

    static string Content(JsonObject? response) => (string)response!["choices"]![0]!["message"]!["content"]!;
}
