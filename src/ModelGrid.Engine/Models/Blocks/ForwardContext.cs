using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Models.Blocks;

/// <summary>What every block sees during one forward pass: the batch and the shared compute resources.</summary>
public sealed class ForwardContext(MatMul matMul) : IDisposable
{
    public MatMul MatMul => matMul;

    /// <summary>
    /// Activation buffers, one per <see cref="ScratchSlot"/>, shared by all layers: layers run one after another, so a
    /// model needs one set of them, not one per layer.
    /// </summary>
    public ScratchBuffers Scratch { get; } = new();

    public WorkerPool Pool => matMul.Pool;

    public ForwardBatch Batch { get; internal set; } = null!;

    public int Tokens => Batch.Count;

    public void Dispose() => Scratch.Dispose();
}

/// <summary>The transient buffers of the blocks; a block uses its own slots, so blocks that call each other never collide.</summary>
public enum ScratchSlot
{
    Query, Key, Value, AttentionOutput, QueryAndGate, AttentionGate,
    FeedForwardGate, FeedForwardUp,
    RouterLogits, ExpertInput, ExpertOutput,
    DeltaQueryKeyValue, DeltaOutputGate, DeltaBeta, DeltaAlpha, DeltaConvolved, DeltaOutput,
}

public sealed class ScratchBuffers : IDisposable
{
    readonly NativeBuffer<float>[] _buffers = Enum.GetValues<ScratchSlot>().Select(_ => new NativeBuffer<float>()).ToArray();

    public NativeBuffer<float> this[ScratchSlot slot] => _buffers[(int)slot];

    public long Bytes => _buffers.Sum(b => b.Length) * sizeof(float);

    public void Dispose()
    {
        foreach (var buffer in _buffers)
            buffer.Dispose();
    }
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
