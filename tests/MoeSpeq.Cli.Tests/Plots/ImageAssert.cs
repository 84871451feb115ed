using System.Xml.Linq;
using Xunit;

namespace MoeSpeq.Cli.Tests.Plots;

/// <summary>Checks that a written plot is a well-formed image of its format, not just a non-empty file.</summary>
static class ImageAssert
{
    static readonly byte[] PngSignature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public static void Svg(string path)
    {
        var root = XDocument.Load(path).Root!;
        Assert.Equal(XName.Get("svg", "http://www.w3.org/2000/svg"), root.Name);
        Assert.NotEmpty(root.Elements());
    }

    public static void Png(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.True(bytes.Length > 1000, $"{path}: {bytes.Length} bytes");
        Assert.Equal(PngSignature, bytes[..PngSignature.Length]);
    }
}
