using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using ModelGrid.Server.Hosting;
using ModelGrid.Server.Scheduling;

namespace ModelGrid.Server.Metrics;

/// <summary>Counters and latency histograms, rendered in the Prometheus text exposition format.</summary>
public sealed class ServerMetrics
{
    readonly ConcurrentDictionary<(string Path, int Status), long> _requests = new();
    readonly ConcurrentDictionary<string, ModelMetrics> _models = new(StringComparer.Ordinal);

    public void Request(string path, int status) => _requests.AddOrUpdate((path, status), 1, (_, n) => n + 1);

    public ModelMetrics For(string model) => _models.GetOrAdd(model, _ => new ModelMetrics());

    public string Render(IEnumerable<ServedModel> models)
    {
        var text = new StringBuilder();
        text.Append("# HELP modelgrid_requests_total HTTP requests by path and status.\n# TYPE modelgrid_requests_total counter\n");
        foreach (var ((path, status), count) in _requests.OrderBy(r => r.Key.Path).ThenBy(r => r.Key.Status))
            text.Append($"modelgrid_requests_total{{path=\"{path}\",status=\"{status}\"}} {count}\n");

        text.Append("# HELP modelgrid_kv_page_bytes KV-cache pages of all models, in use by sequences and kept free for reuse.\n# TYPE modelgrid_kv_page_bytes gauge\n");
        text.Append($"modelgrid_kv_page_bytes{{state=\"used\"}} {Engine.Models.Blocks.KvPagePool.BytesInUse}\n");
        text.Append($"modelgrid_kv_page_bytes{{state=\"free\"}} {Engine.Models.Blocks.KvPagePool.BytesFree}\n");

        var served = models.ToList();
        void Family(string name, string type, string help, Func<ServedModel, string> value)
        {
            text.Append($"# HELP {name} {help}\n# TYPE {name} {type}\n");
            foreach (var model in served)
                text.Append($"{name}{{model=\"{model.Name}\"}} {value(model)}\n");
        }
        Family("modelgrid_prompt_tokens_total", "counter", "Prompt tokens of finished sequences.", m => For(m.Name).PromptTokens.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_completion_tokens_total", "counter", "Generated tokens of finished sequences.", m => For(m.Name).CompletionTokens.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_queue_depth", "gauge", "Requests waiting for a batch slot.", m => m.Scheduler.QueueDepth.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_running_sequences", "gauge", "Sequences in the running batch.", m => m.Scheduler.RunningCount.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_kv_blocks_used", "gauge", "KV-cache blocks held by running sequences and cached prefixes, including the blocks standing for their recurrent state.", m => m.Scheduler.KvBlocksUsed.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_kv_blocks_free", "gauge", "KV-cache blocks free under the budget.", m => (m.Scheduler.KvBlocksTotal - m.Scheduler.KvBlocksUsed).ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_recurrent_state_bytes", "gauge", "Recurrent-state memory (Gated DeltaNet layers) of running sequences and cached prefixes.", m => m.Scheduler.RecurrentStateBytesInUse.ToString(CultureInfo.InvariantCulture));
        Family("modelgrid_cached_prefixes", "gauge", "Finished sequences kept for prefix reuse.", m => m.Scheduler.CachedPrefixes.ToString(CultureInfo.InvariantCulture));
        foreach (var (name, help, select) in new (string, string, Func<ModelMetrics, Histogram>)[]
        {
            ("modelgrid_time_to_first_token_seconds", "Time from admission to the first generated token.", m => m.TimeToFirstToken),
            ("modelgrid_inter_token_latency_seconds", "Time between consecutive tokens of a sequence.", m => m.InterTokenLatency),
        })
        {
            text.Append($"# HELP {name} {help}\n# TYPE {name} histogram\n");
            foreach (var model in served)
                select(For(model.Name)).Render(text, name, $"model=\"{model.Name}\"");
        }
        return text.ToString();
    }
}

/// <summary>One model's counters, fed by its scheduler.</summary>
public sealed class ModelMetrics : ISchedulerObserver
{
    long _promptTokens, _completionTokens;

    public long PromptTokens => Interlocked.Read(ref _promptTokens);
    public long CompletionTokens => Interlocked.Read(ref _completionTokens);
    public Histogram TimeToFirstToken { get; } = new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    public Histogram InterTokenLatency { get; } = new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]);

    void ISchedulerObserver.TimeToFirstToken(TimeSpan elapsed) => TimeToFirstToken.Observe(elapsed.TotalSeconds);
    void ISchedulerObserver.InterTokenLatency(TimeSpan elapsed) => InterTokenLatency.Observe(elapsed.TotalSeconds);

    void ISchedulerObserver.Finished(int promptTokens, int completionTokens)
    {
        Interlocked.Add(ref _promptTokens, promptTokens);
        Interlocked.Add(ref _completionTokens, completionTokens);
    }
}

public sealed class Histogram(double[] bounds)
{
    readonly long[] _counts = new long[bounds.Length + 1];
    double _sum;

    public void Observe(double value)
    {
        int bucket = Array.FindIndex(bounds, b => value <= b);
        lock (_counts)
        {
            _counts[bucket < 0 ? bounds.Length : bucket]++;
            _sum += value;
        }
    }

    public long Count
    {
        get
        {
            lock (_counts)
                return _counts.Sum();
        }
    }

    internal void Render(StringBuilder text, string name, string labels)
    {
        lock (_counts)
        {
            long cumulative = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cumulative += _counts[i];
                text.Append($"{name}_bucket{{{labels},le=\"{bounds[i].ToString(CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
            }
            cumulative += _counts[^1];
            text.Append($"{name}_bucket{{{labels},le=\"+Inf\"}} {cumulative}\n");
            text.Append($"{name}_sum{{{labels}}} {_sum.ToString("R", CultureInfo.InvariantCulture)}\n");
            text.Append($"{name}_count{{{labels}}} {cumulative}\n");
        }
    }
}
