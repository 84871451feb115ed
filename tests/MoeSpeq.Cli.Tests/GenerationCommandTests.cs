using MoeSpeq.TestSupport;
using Xunit;

namespace MoeSpeq.Cli.Tests;

/// <summary>The demo and tokenizer commands as a user runs them.</summary>
public class GenerationCommandTests
{
    [Fact]
    public void RunContinuesThePromptOnTheDemoModel()
    {
        var o = CliRunner.Run("run", "-p", "Returns a value that indicates", "-n", "24", "--seed", "7");
        Assert.True(o.ExitCode == 0, o.Stderr);
        Assert.StartsWith("Returns a value that indicates ", o.Stdout);
        Assert.True(o.Stdout.Length > "Returns a value that indicates".Length + 40, o.Stdout);
        Assert.Matches(@"prefill: \d+ tokens, [\d.]+ tok/s \| decode: 24 tokens, [\d.]+ tok/s", o.Stderr);
    }

    [Fact]
    public void RunFromTheDiskTierPrintsThePredictorPerLayerOnlyWhenAsked()
    {
        string[] args = ["run", "-p", "Returns a value that indicates", "-n", "8", "--temp", "0", "--slow-tier", "disk", "--expert-cache", "25%", "--predictor", "gate-lookahead:1:0"];
        var compact = CliRunner.Run(args);
        Assert.True(compact.ExitCode == 0, compact.Stderr);
        Assert.Contains("predictor precision", compact.Stderr);
        Assert.DoesNotContain("predictor by layer", compact.Stderr);

        var verbose = CliRunner.Run([.. args, "--expert-stats"]);
        Assert.True(verbose.ExitCode == 0, verbose.Stderr);
        Assert.Contains("predictor by layer", verbose.Stderr);
        // The demo model has 6 MoE layers; gate lookahead predicts layers 1..5 from the one before.
        Assert.Equal(5, System.Text.RegularExpressions.Regex.Matches(verbose.Stderr, @"\n  layer +\d+: +\d+ +\d+ +\d+; +[\d.]+ ?% +[\d.]+ ?%").Count);
    }

    [Theory]
    [InlineData("3", "resident")]
    [InlineData("auto", "host")]
    public void SpeculativeRunPrintsThePlainGreedyTextAndItsStats(string speculate, string tier)
    {
        string[] args = ["run", "-p", "Returns a value that indicates", "-n", "32", "--temp", "0", "--slow-tier", tier, "--expert-cache", "25%"];
        var plain = CliRunner.Run(args);
        var speculative = CliRunner.Run([.. args, "--speculate", speculate, "--draft-experts", "q4_k"]);
        Assert.True(speculative.ExitCode == 0, speculative.Stderr);
        Assert.Equal(plain.Stdout, speculative.Stdout);
        Assert.Matches(@"self-draft: Q4_K experts.*[\d.]+ MB resident", speculative.Stderr);
        Assert.Matches(@"speculation: \d+ cycles, [\d.]+ tokens/cycle.*acceptance by depth", speculative.Stderr);
        if (speculate == "auto") Assert.Matches(@"governor: k\* = \d+; predicted [\d.]+ tok/s", speculative.Stderr);
    }

    [Fact]
    public void ASeparateDraftModelGivesThePlainGreedyText()
    {
        var draft = TestPaths.Shared("fixtures", "draft-dense-f32.gguf");
        string[] args = ["run", "-p", "Returns a value that indicates", "-n", "32", "--temp", "0"];
        var plain = CliRunner.Run(args);
        var speculative = CliRunner.Run([.. args, "--speculate", "3", "--draft", draft]);
        Assert.True(speculative.ExitCode == 0, speculative.Stderr);
        Assert.Equal(plain.Stdout, speculative.Stdout);
        Assert.Matches(@"draft model: draft-dense \(dense, \d+ layers\), [\d.]+ MB resident", speculative.Stderr);
        var mismatch = CliRunner.Run("run", "-n", "2", "--speculate", "2", "--draft", TestPaths.Golden("mixtral-moe-q4_k_m.gguf"));
        Assert.Equal(2, mismatch.ExitCode);
        Assert.Contains("vocabulary", mismatch.Stderr);
    }

    [Theory]
    [InlineData("--speculate", "9")]
    [InlineData("--speculate", "soon")]
    [InlineData("--draft-experts", "q3")]
    [InlineData("--max-k", "0")]
    public void BadSpeculationFlagsAreOneLineErrors(string flag, string value)
    {
        var o = CliRunner.Run("run", "-n", "2", "--speculate", "2", flag, value);
        Assert.Equal(2, o.ExitCode);
        Assert.StartsWith("moespeq: error: ", o.Stderr);
        Assert.Single(o.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void RunWithoutAPromptStartsFromBos()
    {
        var o = CliRunner.Run("run", "-n", "16", "--temp", "0");
        Assert.True(o.ExitCode == 0, o.Stderr);
        Assert.False(string.IsNullOrWhiteSpace(o.Stdout));
    }

    [Fact]
    public void GreedyRunIsDeterministic()
    {
        var a = CliRunner.Run("run", "-p", "The following options are supported:", "-n", "20", "--temp", "0");
        var b = CliRunner.Run("run", "-p", "The following options are supported:", "-n", "20", "--temp", "0");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(a.Stdout, b.Stdout);
    }

    [Fact]
    public void OffloadedTiersEvaluateLikeResidentOnes()
    {
        var model = TestPaths.Golden("mixtral-moe-q4_k_m.gguf");
        var dir = Directory.CreateTempSubdirectory("moespeq-tiers");
        try
        {
            byte[] Logits(params string[] flags)
            {
                string path = Path.Combine(dir.FullName, $"{flags.Length}-{string.Join('_', flags).Replace("-", "")}.f32");
                var o = CliRunner.Run(["eval", "-m", model, "--tokens", "1,450,4996,17354", "--logits-out", path, .. flags]);
                Assert.True(o.ExitCode == 0, o.Stderr);
                return File.ReadAllBytes(path);
            }
            var resident = Logits();
            Assert.Equal(resident, Logits("--slow-tier", "disk", "--expert-cache", "30%"));
            Assert.Equal(resident, Logits("--slow-tier", "host", "--expert-cache", "30%", "--link-bandwidth", "2", "--link-latency", "50"));
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public void TokenizeReproducesTheFixtureVectors()
    {
        var vocab = TestPaths.Data("vocab", "ggml-vocab-moe-fixture.gguf");
        var inputs = File.ReadAllText(vocab + ".inp").Split("\n__ggml_vocab_test__\n");
        var expected = File.ReadAllLines(vocab + ".out");
        var file = Path.GetTempFileName();
        try
        {
            for (int i = 0; i < expected.Length; i += 5)
            {
                File.WriteAllText(file, inputs[i]);
                var o = CliRunner.Run("tokenize", "-m", vocab, "-f", file);
                Assert.Equal(0, o.ExitCode);
                Assert.Equal(expected[i].Split(' ', StringSplitOptions.RemoveEmptyEntries), o.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
            }
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void TokenizeAddsBosOnlyWhenAsked()
    {
        var vocab = TestPaths.Data("vocab", "ggml-vocab-moe-fixture.gguf");
        var plain = CliRunner.Run("tokenize", "-m", vocab, "--text", "Hello world");
        var special = CliRunner.Run("tokenize", "-m", vocab, "--text", "Hello world", "--add-special");
        Assert.Equal("1 " + plain.Stdout.Trim(), special.Stdout.Trim());
    }

    [Fact]
    public void PerplexityPrintsTheFinalLineLikeLlamaPerplexity()
    {
        var o = CliRunner.Run("perplexity", "-m", TestPaths.Golden("mixtral-moe-q4_k_m.gguf"), "-f", TestPaths.Golden("ppl_text.txt"), "-c", "128");
        Assert.True(o.ExitCode == 0, o.Stderr);
        var last = o.Stdout.Trim().Split('\n')[^1];
        Assert.Matches(@"^PPL = [\d.]+ \+/- [\d.]+", last);
    }
}
