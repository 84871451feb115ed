using MoeSpeq.Formats.Gguf;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>The fingerprint names a file's content, not its path, and changes with its header and sampled data.</summary>
public sealed class GgufFingerprintTests : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moespeq-fingerprint");

    public void Dispose() => _dir.Delete(recursive: true);

    string Fingerprint(string path)
    {
        using var file = GgufFile.Open(path);
        return GgufFingerprint.Of(file);
    }

    /// <summary>A copy of the demo model with <paramref name="edit"/> applied to its bytes.</summary>
    string Copy(string name, Action<byte[], GgufHeader> edit)
    {
        var bytes = File.ReadAllBytes(TestPaths.DemoModel);
        edit(bytes, GgufReader.Parse(bytes));
        string path = Path.Combine(_dir.FullName, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void ACopyHasTheSameFingerprintAndEachSampledChangeAnother()
    {
        string original = Fingerprint(TestPaths.DemoModel);
        Assert.Matches("^[0-9a-f]{64}$", original);
        Assert.Equal(original, Fingerprint(Copy("copy.gguf", (_, _) => { })));
        // A byte of the first metadata key, the first byte of tensor data and the last byte of the file.
        Assert.NotEqual(original, Fingerprint(Copy("header.gguf", (b, _) => b[40] ^= 1)));
        Assert.NotEqual(original, Fingerprint(Copy("first.gguf", (b, h) => b[h.DataOffset] ^= 1)));
        Assert.NotEqual(original, Fingerprint(Copy("last.gguf", (b, _) => b[^1] ^= 1)));
    }
}
