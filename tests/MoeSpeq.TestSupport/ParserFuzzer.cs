using System.Diagnostics;
using System.Text;
using Xunit;

namespace MoeSpeq.TestSupport;

/// <summary>
/// The loop every file-format fuzz test shares: mutate a seed, parse it, and require that the parser either accepts
/// a consistent result or throws its typed format error, within a time limit, an allocation bound proportional to the
/// input, and a bounded live heap (so an absurd length in a header cannot turn into a huge allocation or a hang).
/// </summary>
public static class ParserFuzzer
{
    static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(2);
    /// <summary>Bytes a parse may allocate per byte of input, plus the slack below: header objects, strings, arrays.</summary>
    const int AllocationPerInputByte = 64;
    const long AllocationSlack = 1 << 20;
    const long MaxHeapGrowth = 256L << 20;

    /// <param name="mutate">Writes the mutation it made to the log, for the failure message.</param>
    /// <param name="parseAndCheck">Parses a mutant and asserts what a successful parse guarantees.</param>
    /// <param name="describe">Names a failing case: (case number, seed, mutation log, mutant).</param>
    public static (int Parsed, int Rejected) Run<TSeed, TFormatException>(IReadOnlyList<TSeed> seeds, int cases, int rngSeed,
        Func<Random, TSeed, StringBuilder, byte[]> mutate, Action<byte[]> parseAndCheck, Func<int, TSeed, StringBuilder, byte[], string> describe)
        where TFormatException : Exception
    {
        var rng = new Random(rngSeed);
        var log = new StringBuilder();
        int parsed = 0, rejected = 0;
        GC.Collect();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var clock = new Stopwatch();
        for (int c = 0; c < cases; c++)
        {
            var seed = seeds[c % seeds.Count];
            log.Clear();
            var mutant = mutate(rng, seed, log);
            long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
            clock.Restart();
            try
            {
                parseAndCheck(mutant);
                parsed++;
            }
            catch (TFormatException)
            {
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{describe(c, seed, log, mutant)} threw {e}");
            }
            clock.Stop();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
            if (clock.Elapsed > PerCaseLimit)
                Assert.Fail($"{describe(c, seed, log, mutant)} took {clock.Elapsed.TotalMilliseconds:F0} ms");
            if (allocated > AllocationPerInputByte * (long)mutant.Length + AllocationSlack)
                Assert.Fail($"{describe(c, seed, log, mutant)} allocated {allocated} bytes for a {mutant.Length}-byte input");
            if (c % 500 == 0 && GC.GetTotalMemory(forceFullCollection: false) - heapBefore > MaxHeapGrowth)
                Assert.Fail($"live heap grew by more than {MaxHeapGrowth} bytes by case {c}");
        }
        return (parsed, rejected);
    }

    /// <summary>
    /// A fuzzer that only ever hits the first check is not testing much: every case ends one way or the other, and
    /// both outcomes must be common.
    /// </summary>
    public static void AssertBothOutcomesCommon(int cases, int parsed, int rejected)
    {
        Assert.Equal(cases, parsed + rejected);
        Assert.True(parsed > cases / 50, $"only {parsed} of {cases} mutants parsed");
        Assert.True(rejected > cases / 2, $"only {rejected} of {cases} mutants were rejected");
    }
}
