using System.Diagnostics;
using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

/// <summary>
/// The host tier serves the file's bytes, and its link is emulated faithfully: lower bounds only, since they check
/// the emulation itself (a read must not come back before the link would have delivered it), never performance.
/// </summary>
public sealed unsafe class HostTierTests : IDisposable
{
    const int Megabyte = 1_000_000;
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-host-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    (string Path, byte[] Bytes) WriteFile(int length)
    {
        var bytes = new byte[length];
        new Random(5).NextBytes(bytes);
        string path = Path.Combine(_dir, "data.bin");
        File.WriteAllBytes(path, bytes);
        return (path, bytes);
    }

    [Fact]
    public void FourThreadsShareOneLinksBandwidth()
    {
        var (path, bytes) = WriteFile(32 * Megabyte);
        using var tier = new HostTier(path, [(0, bytes.Length)], new EmulatedLink(bandwidthGBps: 1, latencyMicroseconds: 0));
        using var memory = new Tensors.WeightArena(bytes.Length);
        byte* dst = memory.Base;
        long t0 = Stopwatch.GetTimestamp();
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            tier.Read(0, (long)i * 8 * Megabyte, 8 * Megabyte, dst + (long)i * 8 * Megabyte, CancellationToken.None));
        var elapsed = Stopwatch.GetElapsedTime(t0);
        // 4 × 8 MB at 1 GB/s is 32 ms on one serialised link, however the reads overlap.
        Assert.True(elapsed.TotalMilliseconds >= 32, $"32 MB over a 1 GB/s link took {elapsed.TotalMilliseconds:F2} ms");
        Assert.True(new ReadOnlySpan<byte>(dst, bytes.Length).SequenceEqual(bytes));
    }

    [Fact]
    public void EverySmallReadWaitsForTheLatency()
    {
        var (path, bytes) = WriteFile(1 << 16);
        using var tier = new HostTier(path, [(0, 4096), (8192, 8192)], new EmulatedLink(bandwidthGBps: 16, latencyMicroseconds: 3000));
        var buffer = new byte[64];
        fixed (byte* dst = buffer)
        {
            foreach (long offset in new long[] { 0, 100, 8192, 16320 })
            {
                long t0 = Stopwatch.GetTimestamp();
                tier.Read(0, offset, 64, dst, CancellationToken.None);
                var elapsed = Stopwatch.GetElapsedTime(t0);
                Assert.True(elapsed.TotalMilliseconds >= 3, $"a 64-byte read over a 3000 µs link took {elapsed.TotalMilliseconds:F3} ms");
                Assert.Equal(bytes.AsSpan((int)offset, 64).ToArray(), buffer);
            }
        }
    }

    [Fact]
    public void AReadOutsideTheHeldRangesIsRefused()
    {
        var (path, _) = WriteFile(1 << 16);
        using var tier = new HostTier(path, [(0, 4096), (8192, 8192)], new EmulatedLink(16, 0));
        using var memory = new Tensors.WeightArena(64);
        Assert.Throws<ArgumentOutOfRangeException>(() => tier.Read(0, 4090, 64, memory.Base, CancellationToken.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => tier.Read(0, 20000, 64, memory.Base, CancellationToken.None));
        Assert.Equal(4096 + 8192, tier.HeldBytes);
    }

    [Fact]
    public void CancellingAReadInProgressThrows()
    {
        var (path, bytes) = WriteFile(Megabyte);
        // A megabyte at 0.0001 GB/s takes 10 s: only cancellation ends the read sooner.
        using var tier = new HostTier(path, [(0, bytes.Length)], new EmulatedLink(bandwidthGBps: 0.0001, latencyMicroseconds: 0));
        using var memory = new Tensors.WeightArena(bytes.Length);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        long t0 = Stopwatch.GetTimestamp();
        Assert.ThrowsAny<OperationCanceledException>(() => tier.Read(0, 0, bytes.Length, memory.Base, cancel.Token));
        Assert.True(Stopwatch.GetElapsedTime(t0) < TimeSpan.FromSeconds(10), "the read ran to its end instead of being cancelled");
    }

    [Theory]
    [InlineData(0, 10, "--link-bandwidth")]
    [InlineData(-1, 10, "--link-bandwidth")]
    [InlineData(double.NaN, 10, "--link-bandwidth")]
    [InlineData(double.PositiveInfinity, 10, "--link-bandwidth")]
    [InlineData(1e-9, 10, "--link-bandwidth")]
    [InlineData(1e9, 10, "--link-bandwidth")]
    [InlineData(16, -1, "--link-latency")]
    [InlineData(16, double.NaN, "--link-latency")]
    [InlineData(16, 1e12, "--link-latency")]
    public void BadLinkParametersAreRejected(double bandwidth, double latency, string named)
    {
        var e = Assert.Throws<ArgumentException>(() => new EmulatedLink(bandwidth, latency));
        Assert.StartsWith(named, e.Message);
    }

    [Fact]
    public void TheHostTierGivesTheResidentLogits()
    {
        var runtime = TierLogits.AssertEqualToResident(
            new OffloadOptions { SlowTier = "host", Budget = ExpertBudget.Parse("25%"), Predictor = "gate-lookahead:1:1", LinkBandwidthGBps = 4, LinkLatencyMicroseconds = 20 });

        var tier = Assert.IsType<HostTier>(runtime.Tier);
        Assert.True(tier.HeldBytes >= runtime.Catalog!.TotalExpertBytes);
        Assert.Contains("4 GB/s", runtime.Summary);
        Assert.Contains("20 µs", runtime.Summary);
        Assert.True(runtime.Stats.Snapshot().Misses > 0);
    }
}
