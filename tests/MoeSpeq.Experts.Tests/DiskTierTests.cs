using MoeSpeq.Experts.Tiers;
using MoeSpeq.Model;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Experts.Tests;

public sealed unsafe class DiskTierTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("moespeq-disk-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ReadsEqualTheFileBytesFromSeveralThreads()
    {
        var bytes = new byte[1 << 20];
        new Random(3).NextBytes(bytes);
        string path = Path.Combine(_dir, "data.bin");
        File.WriteAllBytes(path, bytes);
        using var tier = new DiskTier(path);
        using var memory = new Tensors.WeightArena(8 << 16);
        Parallel.For(0, 8, i =>
        {
            byte* dst = memory.Base + (i << 16);
            long offset = (long)i * 3 * tier.Alignment * 8 % (bytes.Length - 65536) / tier.Alignment * tier.Alignment;
            tier.Read(0, offset, 65536, dst, CancellationToken.None);
            Assert.True(new ReadOnlySpan<byte>(dst, 65536).SequenceEqual(bytes.AsSpan((int)offset, 65536)));
        });
        Assert.Contains(tier.IsDirect ? "O_DIRECT" : "DONTNEED", tier.Description);
    }

    [Fact]
    public void AFileTruncatedWhileRunningIsAnIOError()
    {
        string path = Path.Combine(_dir, "short.bin");
        File.WriteAllBytes(path, new byte[64 << 10]);
        using var tier = new DiskTier(path);
        using var memory = new Tensors.WeightArena(1 << 20);
        var e = Assert.Throws<IOException>(() => tier.Read(0, 0, 1 << 20, memory.Base, CancellationToken.None));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void TheDiskTierGivesTheResidentLogits()
    {
        var runtime = TierLogits.AssertEqualToResident(new OffloadOptions { SlowTier = "disk", Budget = ExpertBudget.Parse("50%"), Predictor = "gate-lookahead:1:1" });
        Assert.Contains("disk", runtime.Summary);
        Assert.True(runtime.Stats.Snapshot().BytesRead > 0);
    }
}
