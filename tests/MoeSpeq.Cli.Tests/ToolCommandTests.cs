using System.Text.Json;
using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;
using Xunit;

namespace MoeSpeq.Cli.Tests;

public class ToolCommandTests
{
    [Fact]
    public void MakeModelWritesADeterministicModelWithSpreadLogits()
    {
        var dir = Directory.CreateTempSubdirectory("moespeq-make-model");
        try
        {
            string a = Path.Combine(dir.FullName, "a.gguf"), b = Path.Combine(dir.FullName, "b.gguf");
            string[] shape = ["--layers", "2", "--dim", "128", "--heads", "4", "--kv-heads", "2", "--experts", "4", "--experts-used", "2", "--ffn", "256", "--vocab", "512", "--type", "F16"];
            Assert.Equal(0, CliRunner.Run(["make-model", .. shape, "-o", a]).ExitCode);
            Assert.Equal(0, CliRunner.Run(["make-model", .. shape, "-o", b]).ExitCode);
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));

            string logitsPath = Path.Combine(dir.FullName, "l.f32");
            var eval = CliRunner.Run("eval", "-m", a, "--tokens", "1,10,20,30", "--logits-out", logitsPath, "--greedy", "3");
            Assert.Equal(0, eval.ExitCode);
            Assert.Equal(3, JsonDocument.Parse(eval.Stdout).RootElement.GetProperty("greedy").GetArrayLength());
            var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(logitsPath)).ToArray();
            Assert.Equal(4 * 512, logits.Length);
            double mean = logits.Average(), std = Math.Sqrt(logits.Average(v => (v - mean) * (v - mean)));
            Assert.InRange(std, 0.3, 5.0);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void QuantizeKeepsRoutersAndNormsAndConvertsMatrices()
    {
        var dir = Directory.CreateTempSubdirectory("moespeq-quantize");
        try
        {
            string src = Path.Combine(dir.FullName, "src.gguf"), dst = Path.Combine(dir.FullName, "q8.gguf");
            Assert.Equal(0, CliRunner.Run("make-model", "--layers", "1", "--dim", "64", "--heads", "2", "--kv-heads", "1", "--experts", "4",
                "--experts-used", "2", "--ffn", "128", "--vocab", "300", "--type", "F32", "-o", src).ExitCode);
            var q = CliRunner.Run("quantize", src, dst, "--type", "Q8_0");
            Assert.True(q.ExitCode == 0, q.Stderr);
            using var file = GgufFile.Open(dst);
            Assert.Equal(GgmlType.F32, file.Header.FindTensor("blk.0.ffn_gate_inp.weight")!.Type);
            Assert.Equal(GgmlType.F32, file.Header.FindTensor("blk.0.attn_norm.weight")!.Type);
            Assert.Equal(GgmlType.Q8_0, file.Header.FindTensor("blk.0.ffn_up_exps.weight")!.Type);
            Assert.Equal(GgmlType.Q8_0, file.Header.FindTensor("output.weight")!.Type);
            Assert.Equal(0, CliRunner.Run("eval", "-m", dst, "--tokens", "1,2,3").ExitCode);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void QuantizedModelsLoseAccuracyInOrderOfTheirBits()
    {
        var dir = Directory.CreateTempSubdirectory("moespeq-kquant");
        try
        {
            string src = Path.Combine(dir.FullName, "src.gguf");
            Assert.Equal(0, CliRunner.Run("make-model", "--layers", "2", "--dim", "256", "--heads", "4", "--kv-heads", "2", "--experts", "4",
                "--experts-used", "2", "--ffn", "512", "--vocab", "400", "--type", "F32", "-o", src).ExitCode);
            float[] Logits(string model)
            {
                string path = model + ".f32";
                Assert.Equal(0, CliRunner.Run("eval", "-m", model, "--tokens", "1,17,33,90,250,301,7,64", "--logits-out", path).ExitCode);
                return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();
            }
            var reference = Logits(src);
            double scale = Math.Sqrt(reference.Average(a => (double)a * a));

            var errors = new List<double>();
            foreach (var (name, type) in new[] { ("Q8_0", GgmlType.Q8_0), ("Q6_K", GgmlType.Q6_K), ("Q5_K", GgmlType.Q5_K), ("Q4_K", GgmlType.Q4_K), ("Q2_K", GgmlType.Q2_K) })
            {
                string dst = Path.Combine(dir.FullName, name + ".gguf");
                var q = CliRunner.Run("quantize", src, dst, "--type", name);
                Assert.True(q.ExitCode == 0, q.Stderr);
                using (var file = GgufFile.Open(dst))
                {
                    Assert.Equal(type, file.Header.FindTensor("blk.1.ffn_down_exps.weight")!.Type);
                    Assert.Equal(type == GgmlType.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q6_K, file.Header.FindTensor("output.weight")!.Type);
                }
                var quantized = Logits(dst);
                errors.Add(Math.Sqrt(reference.Zip(quantized, (a, b) => (a - b) * (double)(a - b)).Average()) / scale);
            }
            // Random weights route almost uniformly, so small weight errors flip experts; the order still holds.
            Assert.True(errors[0] < 0.02, $"Q8_0 relative logit error {errors[0]:F4}");
            for (int i = 1; i < errors.Count; i++) Assert.True(errors[i] > errors[i - 1], $"errors by type: {string.Join(", ", errors.Select(e => e.ToString("F4")))}");
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void RepackGivesAFileWithTheSameLogitsThatInspectAndQuantizeRead()
    {
        var dir = Directory.CreateTempSubdirectory("moespeq-repack");
        try
        {
            string src = MoeSpeq.TestSupport.TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), dst = Path.Combine(dir.FullName, "repacked.gguf");
            var r = CliRunner.Run("repack", src, dst);
            Assert.True(r.ExitCode == 0, r.Stderr);
            Assert.Contains("repacked 16 experts of 2 layers", r.Stderr);
            using (var file = GgufFile.Open(dst))
            {
                Assert.Equal(4096u, file.Header.Alignment);
                Assert.NotNull(file.Header.FindTensor("blk.1.ffn_down.7.weight"));
                Assert.Null(file.Header.FindTensor("blk.1.ffn_down_exps.weight"));
            }

            byte[] Logits(string model, params string[] flags)
            {
                string path = Path.Combine(dir.FullName, $"{Guid.NewGuid():N}.f32");
                var o = CliRunner.Run(["eval", "-m", model, "--tokens", "1,450,4996,17354", "--logits-out", path, .. flags]);
                Assert.True(o.ExitCode == 0, o.Stderr);
                return File.ReadAllBytes(path);
            }
            var expected = Logits(src);
            Assert.Equal(expected, Logits(dst));
            Assert.Equal(expected, Logits(dst, "--slow-tier", "disk", "--expert-cache", "30%"));

            string ExpertBytesLine(string model)
            {
                var o = CliRunner.Run("inspect", "-m", model);
                Assert.True(o.ExitCode == 0, o.Stderr);
                return o.Stdout.Split('\n').Single(l => l.StartsWith("routed expert bytes", StringComparison.Ordinal)).Split(';')[0];
            }
            Assert.Equal(ExpertBytesLine(src), ExpertBytesLine(dst));
            Assert.Contains("blk.0.ffn_gate.0.weight", CliRunner.Run("inspect", "-m", dst).Stdout);

            string quantized = Path.Combine(dir.FullName, "q8.gguf");
            var q = CliRunner.Run("quantize", dst, quantized, "--type", "Q8_0");
            Assert.True(q.ExitCode == 0, q.Stderr);
            using (var file = GgufFile.Open(quantized))
            {
                Assert.Equal(4096u, file.Header.Alignment);
                Assert.Equal(GgmlType.Q8_0, file.Header.FindTensor("blk.0.ffn_up.3.weight")!.Type);
            }
            Assert.Equal(0, CliRunner.Run("eval", "-m", quantized, "--tokens", "1,2,3").ExitCode);

            var again = CliRunner.Run("repack", dst, Path.Combine(dir.FullName, "twice.gguf"));
            Assert.Equal(2, again.ExitCode);
            Assert.Contains("already repacked", again.Stderr);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void RepackRefusesWhatItCannotRepackInOneLine()
    {
        var dir = Directory.CreateTempSubdirectory("moespeq-repack-errors");
        try
        {
            string dense = Path.Combine(dir.FullName, "dense.gguf"), moe = Path.Combine(dir.FullName, "moe.gguf");
            Assert.Equal(0, CliRunner.Run("make-model", "--arch", "llama", "--layers", "1", "--dim", "64", "--heads", "2", "--kv-heads", "1",
                "--ffn", "128", "--vocab", "300", "--type", "F32", "-o", dense).ExitCode);
            Assert.Equal(0, CliRunner.Run("make-model", "--layers", "2", "--dim", "64", "--heads", "2", "--kv-heads", "1", "--experts", "4",
                "--experts-used", "2", "--ffn", "128", "--vocab", "300", "--type", "Q8_0", "-o", moe).ExitCode);
            foreach (var (args, says) in new (string[], string)[]
            {
                (["repack", dense, Path.Combine(dir.FullName, "out.gguf")], "not an MoE model"),
                (["repack", moe, moe], "must differ"),
                (["repack", Path.Combine(dir.FullName, "absent.gguf"), Path.Combine(dir.FullName, "out.gguf")], "absent.gguf"),
            })
            {
                var o = CliRunner.Run(args);
                Assert.Equal(2, o.ExitCode);
                Assert.StartsWith("moespeq: error:", Assert.Single(o.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
                Assert.Contains(says, o.Stderr);
            }
            string repacked = Path.Combine(dir.FullName, "moe-repacked.gguf");
            Assert.Equal(0, CliRunner.Run("repack", moe, repacked).ExitCode);
            Assert.Equal(0, CliRunner.Run("eval", "-m", repacked, "--tokens", "1,2,3", "--slow-tier", "host", "--expert-cache", "50%").ExitCode);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void InspectReportsExpertBytes()
    {
        var o = CliRunner.Run("inspect", "-m", MoeSpeq.TestSupport.TestPaths.DemoModel);
        Assert.Equal(0, o.ExitCode);
        Assert.Contains("blk.0.ffn_gate_exps.weight", o.Stdout);
        Assert.Contains("routed expert bytes", o.Stdout);
    }

    [Fact]
    public void BenchJsonReportsThroughputAndTheBandwidthLimit()
    {
        var o = CliRunner.Run("bench", "-m", MoeSpeq.TestSupport.TestPaths.DemoModel, "-p", "16", "-n", "4", "-r", "1", "--json");
        Assert.True(o.ExitCode == 0, o.Stderr);
        var json = JsonDocument.Parse(o.Stdout).RootElement;
        Assert.True(json.GetProperty("decode_tokens_per_second").GetDouble() > 0);
        Assert.True(json.GetProperty("decode_limit_tokens_per_second").GetDouble() > 0);
        Assert.True(json.GetProperty("prefill_tokens_per_second").GetDouble() > 0);
    }

    [Fact]
    public void OffloadedBenchMeasuresEveryConfigurationInRoundsForBothRoutings()
    {
        string dir = Directory.CreateTempSubdirectory("moespeq-bench-offload").FullName;
        try
        {
            string trace = Path.Combine(dir, "routing.trace");
            var record = CliRunner.Run("run", "-p", "The function returns", "-n", "24", "--trace", trace);
            Assert.True(record.ExitCode == 0, record.Stderr);

            var o = CliRunner.Run("bench", "-m", MoeSpeq.TestSupport.TestPaths.DemoModel, "--slow-tier", "host", "--link-bandwidth", "2",
                "--expert-cache", "25%", "--sweep", "50%", "--routing-replay", trace, "-n", "3", "--warmup", "2", "-r", "2", "--json");
            Assert.True(o.ExitCode == 0, o.Stderr);
            Assert.Contains("(round 2 of 2)", o.Stderr);
            var json = JsonDocument.Parse(o.Stdout).RootElement;
            Assert.Equal(2, json.GetProperty("rounds").GetInt32());
            var rows = json.GetProperty("rows").EnumerateArray().ToList();
            string[] expected = ["on demand (no cache)", "LRU", "LFU", "lookahead-aware", "LRU + gate-lookahead:1", "lookahead-aware + gate-lookahead:1",
                                 "oracle (Belady, perfect prefetch)", "lookahead-aware + gate-lookahead:1"];
            foreach (string routing in new[] { "model's own", "replayed" })
            {
                var group = rows.Where(r => r.GetProperty("routing").GetString() == routing).ToList();
                Assert.Equal(expected, group.Select(r => r.GetProperty("configuration").GetString()));
                Assert.Equal(["one layer", "25%", "25%", "25%", "25%", "25%", "25%", "50%"], group.Select(r => r.GetProperty("budget").GetString()));
                Assert.Equal(1.0, group[0].GetProperty("over_on_demand").GetDouble(), 12);
                Assert.Equal(0.0, group[0].GetProperty("hit_rate").GetDouble());
                Assert.True(group[6].GetProperty("bound").GetBoolean());
                foreach (var row in group)
                {
                    var byRound = row.GetProperty("decode_tokens_per_second_by_round").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                    Assert.Equal(2, byRound.Length);
                    Assert.All(byRound, v => Assert.True(v > 0));
                    // The median of two rounds is their mean.
                    Assert.Equal(byRound.Average(), row.GetProperty("decode_tokens_per_second").GetDouble(), 9);
                }
                // Budgeted rows keep experts between tokens; on demand re-reads every routed expert.
                Assert.True(group[1].GetProperty("bytes_per_token").GetDouble() < group[0].GetProperty("bytes_per_token").GetDouble());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void BenchSpeculateReplaysARecordedSelfDraftRunInTheFigure13Structure()
    {
        string dir = Directory.CreateTempSubdirectory("moespeq-bench-spec").FullName;
        try
        {
            string prompts = Path.Combine(dir, "prompts.txt"), trace = Path.Combine(dir, "spec.trace");
            File.WriteAllLines(prompts, ["Returns a value that indicates", "", "The function returns"]);
            var record = CliRunner.Run("run", "-f", prompts, "-n", "12", "--speculate", "2", "--trace", trace);
            Assert.True(record.ExitCode == 0, record.Stderr);
            Assert.Contains("speculation trace:", record.Stderr);
            Assert.Contains("The function returns", record.Stdout);

            var o = CliRunner.Run("bench", "-m", MoeSpeq.TestSupport.TestPaths.DemoModel, "--speculate", "--slow-tier", "host", "--link-bandwidth", "2",
                "--routing-replay", trace, "--budgets", "25%", "--max-k", "2", "-n", "4", "--warmup", "2", "--link-sweep", "1", "--json");
            Assert.True(o.ExitCode == 0, o.Stderr);
            var json = JsonDocument.Parse(o.Stdout).RootElement;
            Assert.True(json.GetProperty("full_miss_load_to_compute_ratio").GetDouble() > 0);
            var rows = json.GetProperty("rows").EnumerateArray().ToList();
            string[] kinds = [.. rows.Select(r => r.GetProperty("kind").GetString()!)];
            // Per budget (a), (b)-SC, (b)-SM, k = 1, 2 and the governor; then k = 1, 2 and the governor at the swept link.
            Assert.Equal(["(a)", "(b)-SC", "(b)-SM", "(c)", "(c)", "(d)", "(c)", "(c)", "(d)"], kinds);
            var sc = rows[1];
            var sm = rows[2];
            var k1 = rows[3];
            Assert.True(k1.GetProperty("draft_bytes").GetInt64() > 0);
            Assert.Equal(sc.GetProperty("cache_bytes").GetInt64(), k1.GetProperty("cache_bytes").GetInt64());
            // SM holds the speculative rows' total memory as cache (up to one slot).
            long total = k1.GetProperty("cache_bytes").GetInt64() + k1.GetProperty("draft_bytes").GetInt64();
            long smCache = sm.GetProperty("cache_bytes").GetInt64();
            Assert.InRange(smCache, total - k1.GetProperty("cache_bytes").GetInt64() / 2, total);
            Assert.All(rows, r => Assert.True(r.GetProperty("decode_tokens_per_second").GetDouble() > 0));
            Assert.True(rows[4].GetProperty("tokens_per_cycle").GetDouble() >= 1);

            var bad = CliRunner.Run("bench", "-m", MoeSpeq.TestSupport.TestPaths.DemoModel, "--speculate", "--slow-tier", "host", "--routing-replay", trace, "--max-k", "3");
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("drafted 2 tokens per cycle", bad.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
