namespace ModelGrid.Engine.Generation;

/// <summary>
/// Holds back streamed text that might be the start of a stop string, and cuts the output where one completes,
/// so that no part of a stop string is ever emitted.
/// </summary>
public sealed class StopStringFilter(IReadOnlyList<string> stops)
{
    readonly System.Text.StringBuilder _pending = new();

    public bool Stopped { get; private set; }

    /// <summary>Adds text and returns what can be emitted now.</summary>
    public string Push(string text)
    {
        if (Stopped || stops.Count == 0)
            return Stopped ? "" : text;
        _pending.Append(text);
        string pending = _pending.ToString();
        int cut = -1;
        foreach (string stop in stops)
            if (stop.Length > 0 && pending.IndexOf(stop, StringComparison.Ordinal) is int at and >= 0 && (cut < 0 || at < cut))
                cut = at;
        if (cut >= 0)
        {
            Stopped = true;
            _pending.Clear();
            return pending[..cut];
        }
        int hold = 0;
        foreach (string stop in stops)
            for (int length = Math.Min(stop.Length - 1, pending.Length); length > hold; length--)
                if (pending.AsSpan(pending.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    hold = length;
                    break;
                }
        _pending.Remove(0, pending.Length - hold);
        return pending[..^hold];
    }

    /// <summary>The held-back text once generation ends without a stop string.</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : _pending.ToString();
        _pending.Clear();
        return rest;
    }
}
