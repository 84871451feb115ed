using Xunit;

namespace MoeSpeq.Tensors.Tests;

public unsafe class WeightArenaTests
{
    [Fact]
    public void PiecesAreAlignedDisjointAndWithinCapacity()
    {
        using var arena = new WeightArena(1000);
        Assert.Equal(0, (long)arena.Base % (2 << 20));
        byte* a = arena.Allocate(10);
        byte* b = arena.Allocate(100);
        Assert.Equal(0, (long)a % 64);
        Assert.Equal(0, (long)b % 64);
        Assert.True(b >= a + 10);
        Assert.Equal(WeightArena.PieceSize(10) + WeightArena.PieceSize(100), arena.Used);
        new Span<byte>(b, 100).Fill(7); // writable
        Assert.Equal(7, b[99]);
    }

    [Fact]
    public void OverfillingIsAClearError()
    {
        using var arena = new WeightArena(128);
        arena.Allocate(100);
        var e = Assert.Throws<InvalidOperationException>(() => arena.Allocate(100));
        Assert.Contains("cannot hold", e.Message);
    }

    [Fact]
    public void AnEmptyArenaHasNoMemory()
    {
        using var arena = new WeightArena(0);
        Assert.Equal(0, arena.Used);
        Assert.Throws<InvalidOperationException>(() => arena.Allocate(1));
    }
}
