using MoeSpeq.Formats;
using MoeSpeq.Formats.Gguf;

namespace MoeSpeq.Model.HuggingFace;

/// <summary>How the GGUF name of a table row is formed from its <see cref="TensorId"/>.</summary>
public enum HfTensorKind
{
    /// <summary><see cref="TensorNames.Gguf(TensorId, int)"/>: <c>blk.{L}.attn_q.weight</c>.</summary>
    Weight,
    /// <summary><see cref="TensorNames.GgufBias"/>: <c>blk.{L}.attn_q.bias</c>.</summary>
    Bias,
    /// <summary><see cref="TensorNames.Gguf(TensorId, int, int)"/>: <c>blk.{L}.ffn_gate.{E}.weight</c>, one routed expert.</summary>
    Expert,
}

/// <summary>
/// One row of an architecture's tensor table: the Hugging Face name pattern (<c>{L}</c> the layer, <c>{E}</c> the
/// expert) of the tensor a logical <see cref="TensorId"/> is stored as, and the rearrangement a converter applies on
/// the way, if any. Two rows may share an HF pattern when one checkpoint tensor becomes two GGUF ones.
/// </summary>
public sealed record HfTensor(TensorId Id, string Hf, HfTensorKind Kind = HfTensorKind.Weight)
{
    public HfTransform? Transform { get; init; }

    /// <summary>The GGUF name for layer <paramref name="layer"/> (−1 for model-wide tensors) and expert <paramref name="expert"/>.</summary>
    public string GgufName(int layer, int expert) => Kind switch
    {
        HfTensorKind.Weight => TensorNames.Gguf(Id, layer),
        HfTensorKind.Bias => TensorNames.GgufBias(Id, layer),
        _ => TensorNames.Gguf(Id, layer, expert),
    };

    /// <summary>The HF name for a layer and expert.</summary>
    public string HfName(int layer, int expert) => Hf.Replace("{L}", layer.ToString()).Replace("{E}", expert.ToString());

    public bool PerLayer => Hf.Contains("{L}", StringComparison.Ordinal);
    public bool PerExpert => Hf.Contains("{E}", StringComparison.Ordinal);
}

/// <summary>
/// A converter's rearrangement of a tensor between its HF and GGUF layouts, parametrised by the model's GGUF metadata.
/// Applied when the tensor is loaded (<see cref="GgufTensorInfo.Rearrangement"/>); writers apply its inverse.
/// </summary>
public abstract record HfTransform
{
    /// <summary>The rearrangement of an HF tensor of row-major <paramref name="hfShape"/> into its GGUF layout.</summary>
    public abstract TensorRearrangement Rearrangement(GgufHeader metadata, string arch, long[] hfShape, int elementSize);

    /// <summary>The GGUF tensor's row-major shape (its ne reversed): the rearranged view's shape unless the transform reshapes it back.</summary>
    public virtual long[] OutputShape(long[] hfShape, TensorRearrangement rearrangement) => rearrangement.OutputShape;

    /// <summary>The HF tensor's row-major shape, for writers, from the GGUF tensor's <paramref name="ggufDims"/> (ne order).</summary>
    public virtual long[] HfShape(GgufHeader metadata, string arch, long[] ggufDims) => [.. ggufDims.Reverse()];

    private protected static long Key(GgufHeader h, string arch, string key) =>
        h.GetInt($"{arch}.{key}") ?? throw new ModelLoadException($"{arch}.{key} is missing, and a tensor's layout depends on it");
}

/// <summary>
/// llama's Q/K rows: HF checkpoints rotate the halves of each head (NEOX pairing, x[i] with x[i + d/2]), GGUF files
/// interleave them so that NORM pairing (x[2i], x[2i+1]) applies; the converter permutes the rows of each head,
/// GGUF row 2i + s = HF row s·d/2 + i. <see cref="HeadCountKey"/> names the GGUF key giving the heads of this matrix.
/// </summary>
public sealed record RopeRowPermutation(string HeadCountKey) : HfTransform
{
    public override TensorRearrangement Rearrangement(GgufHeader metadata, string arch, long[] hfShape, int elementSize)
    {
        long heads = Key(metadata, arch, HeadCountKey);
        if (hfShape.Length != 2 || heads <= 0 || hfShape[0] % (2 * heads) != 0)
            throw new ModelLoadException($"a [{string.Join(", ", hfShape)}] projection cannot be split into {heads} RoPE heads of paired halves");
        long half = hfShape[0] / heads / 2;
        return new TensorRearrangement([heads, 2, half, hfShape[1]], [0, 2, 1, 3], elementSize);
    }

    /// <summary>The permuted rows keep the matrix's shape.</summary>
    public override long[] OutputShape(long[] hfShape, TensorRearrangement rearrangement) => hfShape;
}

/// <summary>
/// DeepSeek's kv_b_proj [heads·(nope + v), kv_lora_rank], split as the converter splits it for MLA with the absorption
/// optimisation: k_b takes each head's first qk_nope_head_dim rows, transposed ([heads, rank, nope]); v_b the
/// remaining v_head_dim rows ([heads, v, rank]).
/// </summary>
public sealed record KvBSplit(bool Keys) : HfTransform
{
    public override TensorRearrangement Rearrangement(GgufHeader metadata, string arch, long[] hfShape, int elementSize)
    {
        var (heads, nope, v, rank) = Dims(metadata, arch);
        if (hfShape.Length != 2 || hfShape[0] != heads * (nope + v) || hfShape[1] != rank)
            throw new ModelLoadException($"kv_b_proj has shape [{string.Join(", ", hfShape)}], expected [{heads * (nope + v)}, {rank}] ({heads} heads × ({nope} + {v}), kv_lora_rank {rank})");
        return Keys
            ? new TensorRearrangement([heads, nope + v, rank], [0, 2, 1], elementSize, sliceAxis: 1, sliceStart: 0, sliceLength: nope)
            : new TensorRearrangement([heads, nope + v, rank], [0, 1, 2], elementSize, sliceAxis: 1, sliceStart: nope, sliceLength: v);
    }

    public override long[] HfShape(GgufHeader metadata, string arch, long[] ggufDims)
    {
        var (heads, nope, v, rank) = Dims(metadata, arch);
        return [heads * (nope + v), rank];
    }

    static (long Heads, long Nope, long V, long Rank) Dims(GgufHeader h, string arch) =>
        (Key(h, arch, "attention.head_count"), Key(h, arch, "attention.key_length_mla") - Key(h, arch, "rope.dimension_count"),
         Key(h, arch, "attention.value_length_mla"), Key(h, arch, "attention.kv_lora_rank"));
}
