using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>What every block sees during one forward pass: the batch and the shared compute resources.</summary>
public sealed class ForwardContext(MatMul matMul)
{
    public MatMul MatMul => matMul;

    public WorkerPool Pool => matMul.Pool;

    public ForwardBatch Batch { get; internal set; } = null!;

    public int Tokens => Batch.Count;
}

/// <summary>The part of a layer that mixes information across positions (attention, linear attention).</summary>
public interface ITokenMixer
{
    /// <summary>Reads normalized hidden states (tokens × embedding) and writes its output (tokens × embedding).</summary>
    void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output);
}

/// <summary>The per-position part of a layer (SwiGLU MLP, mixture of experts).</summary>
public interface IFeedForward
{
    void Forward(ForwardContext context, NativeBuffer<float> input, NativeBuffer<float> output);
}
