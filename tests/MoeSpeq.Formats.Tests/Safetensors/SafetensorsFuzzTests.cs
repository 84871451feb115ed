using System.Buffers.Binary;
using System.Text;
using MoeSpeq.Formats.Safetensors;
using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Formats.Tests.Safetensors;

/// <summary>
/// Mutation fuzzing of the safetensors reader over real-shaped files: every mutated file must parse into a header
/// whose tensors tile the data section, or fail with a <see cref="SafetensorsFormatException"/> — never another
/// exception, a hang or a runaway allocation. Mutations aim at the JSON as well as the bytes: digits, brackets,
/// quotes and the header length. Deterministic (seeded), so a failure names the case that reproduces it.
/// </summary>
public class SafetensorsFuzzTests
{
    const int Cases = 12_000;
    const int RngSeed = 20_250_301;

    static readonly ulong[] Boundaries =
    [
        0, 1, 2, 7, 8, 9, 63, 64, 65, 4095, 4096, int.MaxValue, (ulong)int.MaxValue + 1, uint.MaxValue, (ulong)uint.MaxValue + 1,
        SafetensorsReader.MaxHeaderBytes, SafetensorsReader.MaxHeaderBytes + 1, 1UL << 62, long.MaxValue, 1UL << 63, ulong.MaxValue,
    ];

    static readonly byte[] JsonBytes = Encoding.ASCII.GetBytes("{}[],:\" 0123456789-.eE\\tfnul");

    sealed record Seed(string Name, byte[] Bytes, int HeaderEnd);

    static Seed Make(string name, byte[] bytes) => new(name, bytes, 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes));

    static Seed[] Seeds()
    {
        // A checkpoint-shaped file: layers of attention and per-expert tensors in three dtypes.
        var w = new SafetensorsWriter().SetMetadata("format", "pt");
        var rng = new Random(11);
        foreach (int l in new[] { 0, 1 })
        {
            w.AddTensor($"model.layers.{l}.input_layernorm.weight", "F32", [16], new byte[64]);
            w.AddTensor($"model.layers.{l}.self_attn.q_proj.weight", "BF16", [16, 16], new byte[512]);
            for (int e = 0; e < 4; e++)
                foreach (var m in new[] { "w1", "w2", "w3" })
                {
                    int rows = rng.Next(1, 5);
                    w.AddTensor($"model.layers.{l}.block_sparse_moe.experts.{e}.{m}.weight", "F16", [rows, 16], new byte[rows * 16 * 2]);
                }
        }
        var model = new MemoryStream();
        w.WriteTo(model);
        return [Make("synthetic", SafetensorsTestFiles.Synthetic()), Make("checkpoint-shaped", model.ToArray())];
    }

    [Fact(Timeout = 120_000)]
    public async Task MutatedFilesGiveOnlyFormatExceptionsOrValidHeaders()
    {
        var seeds = Seeds();
        var (parsed, rejected) = await Task.Run(() => Fuzz(seeds), TestContext.Current.CancellationToken);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Cases} mutants: {parsed} parsed, {rejected} rejected with SafetensorsFormatException");
        ParserFuzzer.AssertBothOutcomesCommon(Cases, parsed, rejected);
    }

    static (int Parsed, int Rejected) Fuzz(Seed[] seeds)
    {
        foreach (var seed in seeds) SafetensorsReader.Parse(seed.Bytes); // warm up: the first parse pays for JIT
        return ParserFuzzer.Run<Seed, SafetensorsFormatException>(seeds, Cases, RngSeed, Mutate, mutant => CheckConsistent(SafetensorsReader.Parse(mutant), mutant.Length), Describe);
    }

    /// <summary>What a successful parse guarantees: the tensors tile the data exactly, each its shape × dtype bytes.</summary>
    static void CheckConsistent(SafetensorsHeader header, long length)
    {
        long end = 0;
        foreach (var t in header.Tensors)
        {
            Assert.Equal(end, t.Begin);
            Assert.Equal(t.ElementCount * SafetensorsDtypes.ElementSize(t.Dtype)!.Value, t.ByteSize);
            Assert.Same(t, header.FindTensor(t.Name));
            Assert.True(t.Shape.All(d => d >= 0) && t.Shape.Length <= SafetensorsReader.MaxRank);
            end = t.End;
        }
        Assert.Equal(length - header.DataOffset, end);
    }

    static string Describe(int c, Seed seed, StringBuilder log, byte[] mutant)
    {
        var path = Path.Combine(Path.GetTempPath(), $"safetensors-fuzz-case-{c}.safetensors");
        File.WriteAllBytes(path, mutant);
        return $"case {c} (seed file {seed.Name}, mutations:{log}; bytes saved to {path})";
    }

    static byte[] Mutate(Random rng, Seed seed, StringBuilder log)
    {
        var bytes = (byte[])seed.Bytes.Clone();
        int count = 1 + rng.Next(3);
        for (int m = 0; m < count && bytes.Length > 0; m++)
        {
            // Most mutations land in the header, where the parser does its work.
            int headerEnd = Math.Min(bytes.Length, seed.HeaderEnd);
            int at = rng.Next(4) == 0 ? rng.Next(bytes.Length) : rng.Next(headerEnd);
            switch (rng.Next(10))
            {
                case 0:
                    int bit = rng.Next(8);
                    bytes[at] ^= (byte)(1 << bit);
                    log.Append($" flip bit {bit} of byte {at};");
                    break;
                case 1 or 2:
                    // A JSON-significant character: a digit, a bracket, a quote, a separator.
                    byte b = JsonBytes[rng.Next(JsonBytes.Length)];
                    bytes[at] = b;
                    log.Append($" byte {at} = '{(char)b}';");
                    break;
                case 3:
                    if (bytes.Length < 8) break;
                    ulong length = rng.Next(3) switch
                    {
                        0 => Boundaries[rng.Next(Boundaries.Length)],
                        1 => (ulong)(seed.HeaderEnd - 8 + rng.Next(-16, 17)),
                        _ => (ulong)(bytes.Length - 8 + rng.Next(-2, 3)),
                    };
                    BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
                    log.Append($" header length {length};");
                    break;
                case 4:
                {
                    // A number in the header replaced by a boundary value.
                    int digit = Array.FindIndex(bytes, at, Math.Max(0, headerEnd - at), x => x is >= (byte)'0' and <= (byte)'9');
                    if (digit < 0) break;
                    int stop = digit;
                    while (stop < headerEnd && bytes[stop] is >= (byte)'0' and <= (byte)'9') stop++;
                    var value = Encoding.ASCII.GetBytes(Boundaries[rng.Next(Boundaries.Length)].ToString());
                    bytes = [.. bytes.AsSpan(0, digit), .. value, .. bytes.AsSpan(stop)];
                    log.Append($" number at {digit} = {Encoding.ASCII.GetString(value)};");
                    break;
                }
                case 5:
                {
                    int keep = rng.Next(2) == 0 ? rng.Next(Math.Min(bytes.Length, seed.HeaderEnd + 64)) : at;
                    bytes = bytes[..keep];
                    log.Append($" truncate to {keep};");
                    break;
                }
                case 6:
                {
                    int len = Math.Min(1 + rng.Next(64), bytes.Length - at);
                    int to = rng.Next(bytes.Length + 1);
                    bytes = [.. bytes.AsSpan(0, to), .. bytes.AsSpan(at, len), .. bytes.AsSpan(to)];
                    log.Append($" duplicate {len} bytes from {at} to {to};");
                    break;
                }
                case 7:
                {
                    int len = Math.Min(1 + rng.Next(64), bytes.Length - at);
                    bytes = [.. bytes.AsSpan(0, at), .. bytes.AsSpan(at + len)];
                    log.Append($" delete {len} bytes at {at};");
                    break;
                }
                case 8:
                {
                    int n = Math.Min(1 + rng.Next(8), bytes.Length - at);
                    rng.NextBytes(bytes.AsSpan(at, n));
                    log.Append($" randomize {n} bytes at {at};");
                    break;
                }
                default:
                {
                    // Appended or dropped data bytes: the tensors no longer tile the data.
                    int delta = rng.Next(-8, 9);
                    bytes = delta >= 0 ? [.. bytes, .. new byte[delta]] : bytes[..Math.Max(0, bytes.Length + delta)];
                    log.Append($" data length {delta:+#;-#;0};");
                    break;
                }
            }
        }
        return bytes;
    }
}
