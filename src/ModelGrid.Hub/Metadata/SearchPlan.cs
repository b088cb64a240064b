namespace ModelGrid.Hub.Metadata;

/// <summary>
/// How both stores steer a search with indexed criteria (text, author, tags) instead of trusting the planner's guess
/// of how many rows each matches: a criterion matching fewer than <see cref="SmallCandidateSet"/> rows is read whole,
/// checked against the rest and sorted; when every criterion matches more, the sort index is walked, checking each
/// row, for up to <see cref="WalkLimit"/> rows; a page still not filled then means rare matches, found by intersecting
/// the criteria's row sets.
/// </summary>
sealed record SearchPlan(int SmallCandidateSet, int WalkLimit)
{
    // Walking 10,000 rows takes about 10 ms on the development VM.
    public static SearchPlan Default { get; } = new(4000, 10_000);
}
