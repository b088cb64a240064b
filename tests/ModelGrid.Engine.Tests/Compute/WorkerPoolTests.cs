using ModelGrid.Engine.Compute;

namespace ModelGrid.Engine.Tests.Compute;

public class WorkerPoolTests
{
    sealed class CountingWork(int items) : IParallelWork
    {
        public readonly int[] Runs = new int[items];

        public void Execute(int item) => Interlocked.Increment(ref Runs[item]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Every_item_runs_exactly_once_across_many_loops(int threads)
    {
        using var pool = new WorkerPool(threads);
        foreach (int count in new[] { 1, 2, 3, 8, 17, 150 })
        {
            var work = new CountingWork(count);
            for (int loop = 0; loop < 200; loop++)
                pool.Run(work, count);
            Assert.All(work.Runs, runs => Assert.Equal(200, runs));
        }
    }

    [Fact]
    public void A_count_of_zero_runs_nothing()
    {
        using var pool = new WorkerPool(2);
        var work = new CountingWork(1);
        pool.Run(work, 0);
        Assert.Equal(0, work.Runs[0]);
    }

    /// <summary>Two items that each wait for the other to start can only finish if two threads run them at once.</summary>
    [Fact]
    public void Items_run_concurrently_on_the_worker_and_the_calling_thread()
    {
        using var pool = new WorkerPool(2);
        for (int loop = 0; loop < 50; loop++)
        {
            var rendezvous = new Rendezvous();
            pool.Run(rendezvous, 2);
            Assert.True(rendezvous.Met, $"loop {loop}: the two items never ran at the same time");
            Assert.NotEqual(rendezvous.Threads[0], rendezvous.Threads[1]);
        }
    }

    sealed class Rendezvous : IParallelWork
    {
        readonly CountdownEvent _started = new(2);
        public readonly int[] Threads = new int[2];
        public bool Met;

        public void Execute(int item)
        {
            Threads[item] = Environment.CurrentManagedThreadId;
            _started.Signal();
            bool met = _started.Wait(TimeSpan.FromSeconds(20));
            if (item == 0)
                Met = met;
        }
    }

    [Fact]
    public void A_failing_item_surfaces_as_an_aggregate_exception_and_the_pool_stays_usable()
    {
        using var pool = new WorkerPool(2);
        var failure = new InvalidOperationException("item 5 failed");
        var error = Assert.Throws<AggregateException>(() => pool.Run(new Failing(5, failure), 16));
        Assert.Same(failure, error.InnerException);

        var work = new CountingWork(16);
        pool.Run(work, 16);
        Assert.All(work.Runs, runs => Assert.Equal(1, runs));
    }

    sealed class Failing(int failingItem, Exception failure) : IParallelWork
    {
        public void Execute(int item)
        {
            if (item == failingItem)
                throw failure;
        }
    }

    [Fact]
    public void A_pool_with_one_thread_runs_everything_on_the_caller()
    {
        using var pool = new WorkerPool(1);
        var caller = Environment.CurrentManagedThreadId;
        var seen = new List<int>();
        pool.Run(new Recording(seen), 4);
        Assert.Equal(4, seen.Count);
        Assert.All(seen, thread => Assert.Equal(caller, thread));
    }

    sealed class Recording(List<int> seen) : IParallelWork
    {
        public void Execute(int item) => seen.Add(Environment.CurrentManagedThreadId);
    }
}
