using System.Text.Json.Nodes;
using ModelGrid.Engine.Gguf;
using ModelGrid.Engine.Models;
using ModelGrid.Engine.Vision;

namespace ModelGrid.Engine.Tests.Vision;

public sealed class VisionEncoderLoadTests : IDisposable
{
    readonly string _temp = Directory.CreateTempSubdirectory("modelgrid-vision-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    static VisionGoldenCase FirstCase() => VisionGoldenCase.Load(VisionGoldenCase.Names().First());

    [Fact]
    public void Unknown_projector_type_in_gguf_is_named()
    {
        string path = Path.Combine(_temp, "mmproj-other.gguf");
        new GgufWriter()
            .Add("general.architecture", "clip")
            .Add("clip.has_vision_encoder", true)
            .Add("clip.projector_type", "resampler")
            .Write(path);
        var error = Assert.Throws<UnsupportedArchitectureException>(() => VisionEncoder.Load(path, threads: 1));
        Assert.Contains("'resampler'", error.Message);
        Assert.Contains("qwen3vl_merger", error.Message);
    }

    [Fact]
    public void Unknown_vision_model_type_in_a_folder_is_named()
    {
        string source = VisionGoldenCase.Names().Select(VisionGoldenCase.Load).First(c => c.HuggingFaceFolder is not null).HuggingFaceFolder!;
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!;
        config["vision_config"]!["model_type"] = "siglip_vision_model";
        File.WriteAllText(Path.Combine(_temp, "config.json"), config.ToJsonString());
        File.Copy(Path.Combine(source, "model.safetensors"), Path.Combine(_temp, "model.safetensors"));
        var error = Assert.Throws<UnsupportedArchitectureException>(() => VisionEncoder.Load(_temp, threads: 1));
        Assert.Contains("'siglip_vision_model'", error.Message);
    }

    [Fact]
    public void Folder_without_vision_config_is_refused()
    {
        File.WriteAllText(Path.Combine(_temp, "config.json"), """{"model_type": "qwen3"}""");
        var error = Assert.Throws<ModelFormatException>(() => VisionEncoder.Load(_temp, threads: 1));
        Assert.Contains("vision_config", error.Message);
    }

    [Fact]
    public void Text_model_is_not_a_projector()
    {
        var error = Assert.Throws<ModelFormatException>(() => VisionEncoder.Load(FirstCase().ModelPath, threads: 1));
        Assert.Contains("general.architecture", error.Message);
    }

    [Fact]
    public void Missing_file_is_reported()
    {
        string path = Path.Combine(_temp, "absent-mmproj.gguf");
        var error = Assert.Throws<FileNotFoundException>(() => VisionEncoder.Load(path, threads: 1));
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var golden = GgufFile.Open(FirstCase().MmprojPath);
        string path = Path.Combine(_temp, "mmproj-incomplete.gguf");
        var writer = new GgufWriter();
        foreach (var (key, value) in golden.Metadata)
            writer.Add(key, value);
        foreach (var tensor in golden.Tensors.Where(t => t.Name != "mm.2.weight"))
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, golden.Data(tensor).ToArray());
        writer.Write(path);
        var error = Assert.Throws<ModelFormatException>(() => VisionEncoder.Load(path, threads: 1));
        Assert.Contains("'mm.2.weight'", error.Message);
    }

    [Fact]
    public void Projector_beside_each_golden_model_is_found()
    {
        foreach (var golden in VisionGoldenCase.Names().Select(VisionGoldenCase.Load))
            Assert.Equal(golden.MmprojPath, VisionEncoder.FindBeside(golden.ModelPath));
    }

    [Fact]
    public void Folder_with_a_vision_config_is_its_own_projector()
    {
        foreach (string folder in VisionGoldenCase.Names().Select(n => VisionGoldenCase.Load(n).HuggingFaceFolder).OfType<string>().Distinct())
            Assert.Equal(Path.GetFullPath(folder), VisionEncoder.FindBeside(folder));
        File.WriteAllText(Path.Combine(_temp, "config.json"), """{"model_type": "qwen3"}""");
        Assert.Null(VisionEncoder.FindBeside(_temp));
    }

    [Fact]
    public void No_projector_beside_a_lone_model()
    {
        string model = Path.Combine(_temp, "model.gguf");
        File.WriteAllBytes(model, []);
        Assert.Null(VisionEncoder.FindBeside(model));
        File.WriteAllBytes(Path.Combine(_temp, "mmproj-model-f16.gguf"), []);
        Assert.Equal(Path.Combine(_temp, "mmproj-model-f16.gguf"), VisionEncoder.FindBeside(model));
    }

    [Fact]
    public void Image_preprocessed_for_another_tower_is_refused()
    {
        using var encoder = VisionEncoder.Load(FirstCase().MmprojPath, threads: 1);
        var other = encoder.Preprocessor with { PatchSize = encoder.Preprocessor.PatchSize / 2 };
        var image = other.Preprocess(VisionTestImages.Read("photo.png"));
        var error = Assert.Throws<ArgumentException>(() => encoder.Encode(image));
        Assert.Contains("not preprocessed for this tower", error.Message);
    }
}
