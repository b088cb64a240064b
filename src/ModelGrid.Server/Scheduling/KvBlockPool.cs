namespace ModelGrid.Server.Scheduling;

/// <summary>
/// Accounts KV-cache memory in fixed-size blocks of <see cref="BlockTokens"/> positions under a byte budget. A running
/// sequence holds blocks for its prompt plus its token allowance; an idle cached prefix holds blocks for its length.
/// Each sequence also holds <see cref="StateBlocks"/> for its fixed-size recurrent state (hybrid models), so the budget
/// covers that memory too. Used only by the scheduler thread.
/// </summary>
public sealed class KvBlockPool
{
    public KvBlockPool(long bytesPerToken, long budgetBytes, int blockTokens, long stateBytesPerSequence = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerToken, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockTokens, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(stateBytesPerSequence);
        BlockTokens = blockTokens;
        BytesPerBlock = bytesPerToken * blockTokens;
        StateBlocks = (int)((stateBytesPerSequence + BytesPerBlock - 1) / BytesPerBlock);
        TotalBlocks = (int)Math.Min(int.MaxValue, budgetBytes / BytesPerBlock);
        if (TotalBlocks < 1)
            throw new ArgumentOutOfRangeException(nameof(budgetBytes), budgetBytes, $"the KV budget does not hold one block of {BytesPerBlock} bytes");
    }

    public int BlockTokens { get; }
    public long BytesPerBlock { get; }
    public int TotalBlocks { get; }
    public int UsedBlocks { get; private set; }
    public int FreeBlocks => TotalBlocks - UsedBlocks;

    /// <summary>Blocks standing for one sequence's recurrent state.</summary>
    public int StateBlocks { get; }

    /// <summary>Blocks a sequence of <paramref name="positions"/> positions holds: its KV cache and its recurrent state.</summary>
    public int BlocksFor(int positions) => (positions + BlockTokens - 1) / BlockTokens + StateBlocks;

    public bool TryAllocate(int blocks)
    {
        if (blocks > FreeBlocks)
            return false;
        UsedBlocks += blocks;
        return true;
    }

    public void Release(int blocks)
    {
        if (blocks < 0 || blocks > UsedBlocks)
            throw new InvalidOperationException($"releasing {blocks} KV blocks but only {UsedBlocks} are in use");
        UsedBlocks -= blocks;
    }
}
