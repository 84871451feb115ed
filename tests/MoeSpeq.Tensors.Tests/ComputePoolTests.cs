using Xunit;

namespace MoeSpeq.Tensors.Tests;

public class ComputePoolTests
{
    sealed class CountingTask(int count) : IParallelTask
    {
        public readonly int[] Hits = new int[count];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    sealed class FailingTask(int failAt) : IParallelTask
    {
        public void Execute(int index)
        {
            if (index == failAt) throw new InvalidOperationException("boom " + index);
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 100)]
    [InlineData(4, 1)]
    [InlineData(4, 3)]
    [InlineData(4, 1000)]
    public void RunsEveryIndexExactlyOnce(int threads, int count)
    {
        using var pool = new ComputePool(threads);
        for (int repeat = 0; repeat < 50; repeat++)
        {
            var task = new CountingTask(count);
            pool.Run(task, count);
            Assert.All(task.Hits, h => Assert.Equal(1, h));
        }
    }

    [Fact]
    public void ExceptionsPropagateAndPoolStaysUsable()
    {
        using var pool = new ComputePool(4);
        var e = Assert.Throws<AggregateException>(() => pool.Run(new FailingTask(37), 100));
        Assert.Contains("boom 37", e.InnerException!.Message);
        var task = new CountingTask(64);
        pool.Run(task, 64);
        Assert.All(task.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void SingleThreadPoolThrowsDirectly()
    {
        using var pool = new ComputePool(1);
        Assert.Throws<InvalidOperationException>(() => pool.Run(new FailingTask(2), 5));
    }
}
