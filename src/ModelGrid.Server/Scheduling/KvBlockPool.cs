namespace ModelGrid.Server.Scheduling;

/// <summary>
/// Accounts KV-cache memory in fixed-size blocks of <see cref="BlockTokens"/> positions under a byte budget. A running
/// sequence holds blocks for its prompt plus its token allowance; an idle cached prefix holds blocks for its length.
/// Used only by the scheduler thread.
/// </summary>
public sealed class KvBlockPool
{
    public KvBlockPool(long bytesPerToken, long budgetBytes, int blockTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerToken, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockTokens, 1);
        BlockTokens = blockTokens;
        BytesPerBlock = bytesPerToken * blockTokens;
        TotalBlocks = (int)Math.Min(int.MaxValue, budgetBytes / BytesPerBlock);
        if (TotalBlocks < 1)
            throw new ArgumentOutOfRangeException(nameof(budgetBytes), budgetBytes, $"the KV budget does not hold one block of {BytesPerBlock} bytes");
    }

    public int BlockTokens { get; }
    public long BytesPerBlock { get; }
    public int TotalBlocks { get; }
    public int UsedBlocks { get; private set; }
    public int FreeBlocks => TotalBlocks - UsedBlocks;

    public int BlocksFor(int tokens) => (tokens + BlockTokens - 1) / BlockTokens;

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
