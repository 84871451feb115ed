using MoeSpeq.Formats.Gguf;
using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Tools;

/// <summary>Shape of a synthetic model for benchmarks: a llama-architecture GGUF, dense or Mixtral-style MoE.</summary>
public sealed record RandomModelSpec
{
    public int Layers { get; init; } = 8;
    public int Dim { get; init; } = 1024;
    public int Heads { get; init; } = 16;
    public int KvHeads { get; init; } = 4;
    /// <summary>0 writes a dense model.</summary>
    public int Experts { get; init; } = 8;
    public int ExpertsUsed { get; init; } = 2;
    public int Ffn { get; init; } = 2816;
    public int Vocab { get; init; } = 32000;
    public int ContextLength { get; init; } = 4096;
    public GgmlType Type { get; init; } = GgmlType.Q8_0;
    public ulong Seed { get; init; } = 1;

    public void Validate()
    {
        void Check(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Check(Layers is > 0 and <= 1024, $"--layers {Layers} must be in 1..1024");
        Check(Heads > 0 && Dim > 0 && Dim % Heads == 0, $"--dim {Dim} must be a positive multiple of --heads {Heads}");
        Check((Dim / Heads) % 2 == 0, $"head width {Dim / Heads} must be even for RoPE");
        Check(KvHeads > 0 && Heads % KvHeads == 0, $"--kv-heads {KvHeads} must divide --heads {Heads}");
        Check(Experts >= 0 && (Experts == 0 || ExpertsUsed is > 0 && ExpertsUsed <= Experts), $"--experts-used {ExpertsUsed} must be in 1..--experts {Experts}");
        Check(Ffn > 0 && Vocab >= 259 && ContextLength > 0, "--ffn must be positive and --vocab at least 259 (3 control + 256 byte tokens)");
        Check(ModelQuantizer.TargetTypes.Contains(Type) || Type == GgmlType.F32, $"--type {Type} is not a supported weight type");
        int block = GgmlTypeInfo.BlockSize(Type);
        Check(Dim % block == 0 && Ffn % block == 0, $"--dim and --ffn must be multiples of the {Type} block size {block}");
    }
}

/// <summary>
/// Writes a deterministic random-weight model. Matrices are uniform with variance 1/fan_in, so every projection
/// keeps activations at unit scale and the logits have a spread near 1 (neither flat nor one-hot); norms are 1.
/// The vocabulary is a synthetic SentencePiece one (control, 256 byte tokens, then letter pieces) so every
/// command that tokenizes works on the file.
/// </summary>
public static class RandomModelWriter
{
    public static void Write(RandomModelSpec spec, string path, Action<int, int>? progress = null)
    {
        spec.Validate();
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.name", $"random-{(spec.Experts > 0 ? "moe" : "dense")}-{spec.Layers}x{spec.Dim}");
        w.Set("general.file_type", (uint)ModelQuantizer.FileType(spec.Type));
        w.Set("llama.context_length", (uint)spec.ContextLength);
        w.Set("llama.embedding_length", (uint)spec.Dim);
        w.Set("llama.block_count", (uint)spec.Layers);
        w.Set("llama.feed_forward_length", (uint)spec.Ffn);
        w.Set("llama.attention.head_count", (uint)spec.Heads);
        w.Set("llama.attention.head_count_kv", (uint)spec.KvHeads);
        w.Set("llama.rope.dimension_count", (uint)(spec.Dim / spec.Heads));
        w.Set("llama.rope.freq_base", 10000f);
        w.Set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        if (spec.Experts > 0)
        {
            w.Set("llama.expert_count", (uint)spec.Experts);
            w.Set("llama.expert_used_count", (uint)spec.ExpertsUsed);
            w.Set("llama.expert_feed_forward_length", (uint)spec.Ffn);
        }
        AddVocabulary(w, spec.Vocab);

        var tensors = new List<(string Name, long[] Dims, GgmlType Type, int FanIn, bool Ones)>
        {
            ("token_embd.weight", [spec.Dim, spec.Vocab], spec.Type, spec.Dim, false),
        };
        int hd = spec.Dim / spec.Heads;
        for (int l = 0; l < spec.Layers; l++)
        {
            string b = $"blk.{l}.";
            tensors.Add((b + "attn_norm.weight", [spec.Dim], GgmlType.F32, 1, true));
            tensors.Add((b + "attn_q.weight", [spec.Dim, spec.Dim], spec.Type, spec.Dim, false));
            tensors.Add((b + "attn_k.weight", [spec.Dim, spec.KvHeads * hd], spec.Type, spec.Dim, false));
            tensors.Add((b + "attn_v.weight", [spec.Dim, spec.KvHeads * hd], spec.Type, spec.Dim, false));
            tensors.Add((b + "attn_output.weight", [spec.Dim, spec.Dim], spec.Type, spec.Dim, false));
            tensors.Add((b + "ffn_norm.weight", [spec.Dim], GgmlType.F32, 1, true));
            if (spec.Experts > 0)
            {
                tensors.Add((b + "ffn_gate_inp.weight", [spec.Dim, spec.Experts], GgmlType.F32, spec.Dim, false));
                tensors.Add((b + "ffn_gate_exps.weight", [spec.Dim, spec.Ffn, spec.Experts], spec.Type, spec.Dim, false));
                tensors.Add((b + "ffn_down_exps.weight", [spec.Ffn, spec.Dim, spec.Experts], spec.Type, spec.Ffn, false));
                tensors.Add((b + "ffn_up_exps.weight", [spec.Dim, spec.Ffn, spec.Experts], spec.Type, spec.Dim, false));
            }
            else
            {
                tensors.Add((b + "ffn_gate.weight", [spec.Dim, spec.Ffn], spec.Type, spec.Dim, false));
                tensors.Add((b + "ffn_down.weight", [spec.Ffn, spec.Dim], spec.Type, spec.Ffn, false));
                tensors.Add((b + "ffn_up.weight", [spec.Dim, spec.Ffn], spec.Type, spec.Dim, false));
            }
        }
        tensors.Add(("output_norm.weight", [spec.Dim], GgmlType.F32, 1, true));
        tensors.Add(("output.weight", [spec.Dim, spec.Vocab], spec.Type, spec.Dim, false));

        int done = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, dims, type, fanIn, ones) = tensors[i];
            ulong stream = spec.Seed * 0x9E3779B97F4A7C15UL + (ulong)i;
            w.AddTensor(name, type, dims, s =>
            {
                WriteRows(s, dims, type, ones ? 0 : MathF.Sqrt(3f / fanIn), stream);
                progress?.Invoke(++done, tensors.Count);
            });
        }
        w.WriteTo(path);
    }

    /// <summary>Rows are generated and converted in parallel blocks, then written in order.</summary>
    static void WriteRows(Stream s, long[] dims, GgmlType type, float amplitude, ulong stream)
    {
        int cols = (int)dims[0];
        long rows = 1;
        for (int d = 1; d < dims.Length; d++) rows *= dims[d];
        int rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        const int BlockRows = 64;
        var buffer = new byte[BlockRows * rowBytes];
        for (long start = 0; start < rows; start += BlockRows)
        {
            int count = (int)Math.Min(BlockRows, rows - start);
            Parallel.For(0, count, () => new float[cols], (r, _, values) =>
            {
                long row = start + r;
                if (amplitude == 0) values.AsSpan().Fill(1f);
                else
                {
                    ulong state = stream ^ (ulong)row * 0xD1B54A32D192ED03UL;
                    for (int c = 0; c < cols; c++) values[c] = (2f * NextUnit(ref state) - 1f) * amplitude;
                }
                Quantize.Row(type, values, buffer.AsSpan(r * rowBytes, rowBytes));
                return values;
            }, _ => { });
            s.Write(buffer, 0, count * rowBytes);
        }
    }

    /// <summary>SplitMix64 step mapped to [0, 1): fast, seedable per row, and the same on every runtime.</summary>
    internal static float NextUnit(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 40) * (1f / (1 << 24));
    }

    internal static void AddVocabulary(GgufWriter w, int vocab)
    {
        var tokens = new string[vocab];
        var scores = new float[vocab];
        var types = new int[vocab];
        (tokens[0], types[0]) = ("<unk>", 2);
        (tokens[1], types[1]) = ("<s>", 3);
        (tokens[2], types[2]) = ("</s>", 3);
        for (int b = 0; b < 256; b++) (tokens[3 + b], types[3 + b]) = ($"<0x{b:X2}>", 6);
        for (int i = 259; i < vocab; i++)
        {
            int n = i - 259;
            var piece = new System.Text.StringBuilder(n % 2 == 0 ? "\u2581" : "");
            for (int v = n / 2; ; v = v / 26 - 1)
            {
                piece.Insert(n % 2 == 0 ? 1 : 0, (char)('a' + v % 26));
                if (v < 26) break;
            }
            tokens[i] = piece.ToString();
            types[i] = 1;
            scores[i] = -i;
        }
        w.Set("tokenizer.ggml.model", "llama");
        w.SetArray("tokenizer.ggml.tokens", GgufValueType.String, tokens);
        w.SetArray("tokenizer.ggml.scores", GgufValueType.Float32, scores);
        w.SetArray("tokenizer.ggml.token_type", GgufValueType.Int32, types);
        w.Set("tokenizer.ggml.bos_token_id", 1u);
        w.Set("tokenizer.ggml.eos_token_id", 2u);
        w.Set("tokenizer.ggml.unknown_token_id", 0u);
        w.Set("tokenizer.ggml.add_bos_token", true);
        w.Set("tokenizer.ggml.add_eos_token", false);
    }
}
