namespace ModelGrid.Engine.Compute;

/// <summary>Work split into numbered items; <see cref="WorkerPool.Run"/> calls <see cref="Execute"/> once per item.</summary>
public interface IParallelWork
{
    void Execute(int item);
}

/// <summary>A step applied to the items first..first+count-1 (e.g. the rows of a prompt batch).</summary>
public delegate void RangeStep(int first, int count);

/// <summary>
/// A fixed set of threads that stay alive for the model's lifetime. One decode step issues hundreds of small
/// parallel loops, so threads spin briefly between them instead of sleeping, and items are claimed from a shared
/// counter (no task or closure per loop).
/// </summary>
public sealed class WorkerPool : IDisposable
{
    readonly Thread[] _threads;
    readonly object _gate = new();
    IParallelWork? _work;
    int _itemCount;
    int _nextItem;
    int _busyWorkers;
    long _generation;
    volatile bool _stopping;
    Exception? _failure;

    public WorkerPool(int threads)
    {
        ThreadCount = Math.Max(1, threads);
        _threads = new Thread[ThreadCount - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"modelgrid-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    public int ThreadCount { get; }

    // Rows a thread must get before a row-wise step is split: a few rows cost less than waking the pool.
    const int MinRowsPerRange = 4;

    /// <summary>
    /// Runs <paramref name="step"/> over rows 0..count-1 in one contiguous range per thread: the row-wise steps of a
    /// prompt batch (norms, activation functions, RoPE) that are too cheap to split finer. Batches of fewer than
    /// <see cref="MinRowsPerRange"/> rows per thread run on the calling thread, as a decode step's single row does.
    /// </summary>
    public void RunRanges(int count, RangeStep step)
    {
        int ranges = Math.Min(ThreadCount, count / MinRowsPerRange);
        if (ranges <= 1)
        {
            step(0, count);
            return;
        }
        var work = _rangeWork ??= new RangeWork();
        work.Step = step;
        work.Count = count;
        work.PerRange = (count + ranges - 1) / ranges;
        Run(work, ranges);
        work.Step = null;
    }

    RangeWork? _rangeWork;

    sealed class RangeWork : IParallelWork
    {
        public RangeStep? Step;
        public int Count;
        public int PerRange;

        public void Execute(int item)
        {
            int first = item * PerRange;
            Step!(first, Math.Min(PerRange, Count - first));
        }
    }

    /// <summary>Runs items 0..count-1 across the pool and the calling thread; returns when all are done.</summary>
    public void Run(IParallelWork work, int count)
    {
        if (count <= 0)
            return;
        if (_threads.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++)
                work.Execute(i);
            return;
        }
        lock (_threads)
        {
            _work = work;
            _itemCount = count;
            _nextItem = 0;
            _failure = null;
            Volatile.Write(ref _busyWorkers, _threads.Length);
            lock (_gate)
            {
                Interlocked.Increment(ref _generation);
                Monitor.PulseAll(_gate);
            }
            Drain();
            var spinner = new SpinWait();
            while (Volatile.Read(ref _busyWorkers) > 0)
                spinner.SpinOnce(sleep1Threshold: -1);
            _work = null;
            if (_failure is { } failure)
                throw new AggregateException("a parallel kernel failed", failure);
        }
    }

    void Drain()
    {
        var work = _work!;
        int count = _itemCount;
        try
        {
            for (int item; (item = Interlocked.Increment(ref _nextItem) - 1) < count;)
                work.Execute(item);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _failure, e, null);
            Volatile.Write(ref _nextItem, count);
        }
    }

    void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Spin first: the next parallel loop of the same step usually follows within microseconds.
            var spinner = new SpinWait();
            while (Volatile.Read(ref _generation) == seen && !_stopping)
            {
                if (spinner.Count < 4000)
                {
                    spinner.SpinOnce(sleep1Threshold: -1);
                    continue;
                }
                lock (_gate)
                {
                    if (Volatile.Read(ref _generation) == seen && !_stopping)
                        Monitor.Wait(_gate);
                }
            }
            if (_stopping)
                return;
            seen = Volatile.Read(ref _generation);
            Drain();
            Interlocked.Decrement(ref _busyWorkers);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var thread in _threads)
            thread.Join();
    }
}
