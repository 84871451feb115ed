using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>
/// Mutation fuzzing of the reader over real headers: every mutated file must parse into a self-consistent header
/// or fail with a <see cref="GgufFormatException"/> — never another exception, a hang or a runaway allocation.
/// Deterministic (seeded), so a failure names the case that reproduces it.
/// </summary>
public class GgufFuzzTests
{
    const int Cases = 12_000;
    const int RngSeed = 20_240_611;

    /// <summary>Sizes that break arithmetic: zero, one, powers of two and their neighbours, the limits of int, uint, long, ulong, arrays.</summary>
    static readonly ulong[] Boundaries =
    [
        0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 63, 64, 65, 255, 256, 4095, 4096, 65535, 65536,
        int.MaxValue - 1, int.MaxValue, (ulong)int.MaxValue + 1, uint.MaxValue - 1, uint.MaxValue, (ulong)uint.MaxValue + 1,
        (ulong)Array.MaxLength, (ulong)Array.MaxLength + 1, 1UL << 40, 1UL << 62,
        long.MaxValue - 31, long.MaxValue - 1, long.MaxValue, 1UL << 63, (1UL << 63) + 1, ulong.MaxValue - 31, ulong.MaxValue - 1, ulong.MaxValue,
    ];

    sealed record Seed(string Name, byte[] Bytes, GgufLayout Layout);

    static Seed[] Seeds()
    {
        var vocab = File.ReadAllBytes(TestPaths.Data("vocab", "ggml-vocab-moe-fixture.gguf"));
        var model = GgufTestFiles.SyntheticModel();
        var modelV2 = GgufTestFiles.SyntheticModel(alignment: 64);
        GgufTestFiles.PatchU32(modelV2, 4, 2);
        return
        [
            new("vocab fixture", vocab, GgufLayout.Of(vocab)),
            new("synthetic model", model, GgufLayout.Of(model)),
            new("synthetic model v2 align 64", modelV2, GgufLayout.Of(modelV2)),
        ];
    }

    [Fact(Timeout = 120_000)]
    public async Task MutatedHeadersGiveOnlyFormatExceptionsOrValidHeaders()
    {
        var seeds = Seeds();
        // On a worker thread so the timeout can fail the test even if a parse never returns.
        var (parsed, rejected) = await Task.Run(() => Fuzz(seeds), TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Cases} mutants: {parsed} parsed, {rejected} rejected with GgufFormatException");
        ParserFuzzer.AssertBothOutcomesCommon(Cases, parsed, rejected);
    }

    static (int Parsed, int Rejected) Fuzz(Seed[] seeds)
    {
        foreach (var seed in seeds) GgufReader.Parse(seed.Bytes); // warm up: the first parse pays for JIT
        return ParserFuzzer.Run<Seed, GgufFormatException>(seeds, Cases, RngSeed, Mutate, mutant => CheckConsistent(GgufReader.Parse(mutant), mutant.Length), Describe);
    }

    /// <summary>The guarantees a successful parse makes: what views of the data rely on.</summary>
    static void CheckConsistent(GgufHeader header, long length)
    {
        Assert.Equal(header.Metadata.Count, header.MetadataKeys.Count);
        Assert.Equal(0, header.DataOffset % header.Alignment);
        long dataLength = length - header.DataOffset;
        long end = -1;
        foreach (var t in header.Tensors.Where(t => t.ByteSize > 0).OrderBy(t => t.DataOffset))
        {
            Assert.True(t.DataOffset >= end && t.DataOffset <= dataLength - t.ByteSize, $"{t.Name} lies outside the data or overlaps");
            end = t.DataOffset + t.ByteSize;
        }
        foreach (var t in header.Tensors)
        {
            Assert.Same(t, header.FindTensor(t.Name));
            Assert.True(t.ElementCount >= 0 && t.Dimensions.All(d => d >= 0));
            _ = t.ShapeText;
        }
        foreach (var value in header.Metadata.Values) _ = value.ToString();
    }

    static string Describe(int c, Seed seed, StringBuilder log, byte[] mutant)
    {
        var path = Path.Combine(Path.GetTempPath(), $"gguf-fuzz-case-{c}.gguf");
        File.WriteAllBytes(path, mutant);
        return $"case {c} (seed file {seed.Name}, mutations:{log}; bytes saved to {path})";
    }

    static byte[] Mutate(Random rng, Seed seed, StringBuilder log)
    {
        var bytes = (byte[])seed.Bytes.Clone();
        int count = 1 + rng.Next(3);
        for (int m = 0; m < count && bytes.Length > 0; m++)
        {
            int at = rng.Next(bytes.Length);
            switch (rng.Next(9))
            {
                case 0:
                    int bit = rng.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    log.Append($" flip bit {bit} of byte {at};");
                    break;
                case 1:
                    int n = Math.Min(1 + rng.Next(8), bytes.Length - at);
                    rng.NextBytes(bytes.AsSpan(at, n));
                    log.Append($" randomize {n} bytes at {at};");
                    break;
                case 2 or 3:
                    // The 64-bit counts and lengths of the seed (still at their offsets unless an earlier mutation moved them).
                    int field = seed.Layout.SizeFields[rng.Next(seed.Layout.SizeFields.Count)];
                    if (field + 8 <= bytes.Length) OverwriteU64(rng, bytes, field, log);
                    break;
                case 4:
                    if (at + 8 <= bytes.Length) OverwriteU64(rng, bytes, at, log);
                    break;
                case 5:
                    if (at + 4 > bytes.Length) break;
                    uint small = rng.Next(2) == 0 ? (uint)rng.Next(16) : (uint)Boundaries[rng.Next(Boundaries.Length)];
                    BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), small);
                    log.Append($" u32 {small} at {at};");
                    break;
                case 6:
                    // Truncation mostly inside the header, where the parser does its work.
                    int keep = rng.Next(2) == 0 ? rng.Next(Math.Min(bytes.Length, seed.Layout.HeaderEnd + 64)) : at;
                    bytes = bytes[..keep];
                    log.Append($" truncate to {keep};");
                    break;
                case 7:
                {
                    int len = Math.Min(1 + rng.Next(64), bytes.Length - at);
                    int to = rng.Next(bytes.Length + 1);
                    bytes = [.. bytes.AsSpan(0, to), .. bytes.AsSpan(at, len), .. bytes.AsSpan(to)];
                    log.Append($" duplicate {len} bytes from {at} to {to};");
                    break;
                }
                default:
                {
                    int len = Math.Min(1 + rng.Next(64), bytes.Length - at);
                    bytes = [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + len)];
                    log.Append($" delete {len} bytes at {at};");
                    break;
                }
            }
        }
        return bytes;
    }

    static void OverwriteU64(Random rng, byte[] bytes, int at, StringBuilder log)
    {
        ulong old = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
        ulong value = rng.Next(4) switch
        {
            0 => old + (ulong)rng.Next(-2, 3),
            1 => (ulong)(bytes.Length - at - 8 + rng.Next(-2, 3)),
            _ => Boundaries[rng.Next(Boundaries.Length)],
        };
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(at), value);
        log.Append($" u64 {value} at {at} (was {old});");
    }
}
