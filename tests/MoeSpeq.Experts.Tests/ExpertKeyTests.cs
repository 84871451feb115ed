using MoeSpeq.Model.Experts;
using Xunit;

namespace MoeSpeq.Experts.Tests;

public sealed class ExpertKeyTests
{
    [Fact]
    public void KeysCompareByLayerAndExpert()
    {
        Assert.Equal(new ExpertKey(3, 7), new ExpertKey(3, 7));
        Assert.NotEqual(new ExpertKey(3, 7), new ExpertKey(7, 3));
        Assert.Equal("L3/E7", new ExpertKey(3, 7).ToString());
    }
}
