using System.Text.RegularExpressions;
using MoeSpeq.Inference.Tokenization;
using Xunit;

namespace MoeSpeq.Inference.Tests.Tokenization;

/// <summary>
/// Word splits of the BPE pre-tokenizers. The hand-written GPT-2 and Llama 3 splitters are checked against the
/// original regexes run by .NET on the vector inputs (whose Unicode classes agree with llama.cpp's for these texts);
/// the regex-driven ones against splits worked out from llama.cpp's rules.
/// </summary>
public class PreTokenizerTests
{
    const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    static string[] Words(string pre, string text)
    {
        var cpts = CodepointInfo.FromString(text);
        var lengths = PreTokenizer.Create(pre)!.Split(cpts);
        var words = new List<string>();
        int start = 0;
        foreach (int n in lengths)
        {
            words.Add(string.Concat(cpts[start..(start + n)].Select(char.ConvertFromUtf32)));
            start += n;
        }
        return words.ToArray();
    }

    public static TheoryData<string, string> HandWritten => new()
    {
        { "gpt-2", Gpt2Pattern },
        { "llama3", Llama3Pattern },
    };

    [Theory]
    [MemberData(nameof(HandWritten))]
    public void HandWrittenSplitters_AgreeWithTheirRegex(string pre, string pattern)
    {
        var regex = new Regex(pattern);
        foreach (var (text, _) in VocabVectors.Cases("gpt-2").Concat(VocabVectors.Cases("moe-fixture")))
            Assert.Equal(regex.Matches(text).Select(m => m.Value), Words(pre, text));
    }

    [Fact]
    public void Llama3_GroupsDigitsByThree_AndKeepsContractionsApart()
    {
        Assert.Equal(["123", "456", "7"], Words("llama3", "1234567"));
        Assert.Equal(["I", "'VE", " been"], Words("llama3", "I'VE been"));
        Assert.Equal(["Hello", "\n\n", "World"], Words("llama3", "Hello\n\nWorld"));
    }

    [Fact]
    public void Qwen2_SplitsEveryDigit()
    {
        Assert.Equal(["1", "2", "3", " apples"], Words("qwen2", "123 apples"));
        Assert.Equal(["Hello", ",", " world", "!\n"], Words("qwen2", "Hello, world!\n"));
    }

    [Fact]
    public void DeepseekCoder_SplitsNewlinesLettersPunctuationCjkAndDigits()
    {
        // "=" is a symbol, not punctuation: " = " matches no regex and stays one word.
        Assert.Equal(["x", " = ", "1", "2", ";", "\n", "print", "(", "x", ")"], Words("deepseek-coder", "x = 12;\nprint(x)"));
        Assert.Equal(["我想在", "apple", "工作", "1", "3", "天"], Words("deepseek-coder", "我想在apple工作13天"));
        Assert.Equal([" Hello", ",", " y", "'", "all", "!!"], Words("deepseek-coder", " Hello, y'all!!"));
    }

    [Fact]
    public void DeepseekLlm_HandlesLettersAboveTheBmp()
    {
        // 𐐀𐐁 (Deseret, U+10400…) is in deepseek-llm's letter class, which .NET sees as surrogate pairs.
        Assert.Equal([" 𐐀𐐁", " ", "42"], Words("deepseek-llm", " 𐐀𐐁 42"));
        // llama.cpp quirk kept: the third regex's [!-/:-~] range spans ASCII letters, so it re-splits letter words.
        Assert.Equal([" ab", "𐐀𐐁", "cd"], Words("deepseek-llm", " ab𐐀𐐁cd"));
        Assert.Equal(["Hi", "!", " \t"], Words("deepseek-llm", "Hi! \t"));
    }

    [Fact]
    public void Default_SplitsPunctuationRunsAndDigitTriples()
    {
        Assert.Equal(["Hello", "...", " world", "123", "4"], Words("default", "Hello... world1234"));
    }
}
