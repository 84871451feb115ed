using BenchmarkDotNet.Attributes;
using MoeSpeq.Tensors;

namespace MoeSpeq.Benchmarks;

/// <summary>
/// A 1024×2816 matrix (an expert's down projection at small-model scale: 2.9 M weights, larger than L2) times a
/// batch of activation rows; batch 1 is decode, batch 16 a grouped-expert / prefill tile. The baseline dequantizes
/// runs the same MatMul (same threads, same tiling) on the scalar reference kernels.
/// </summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    const int Rows = 1024, Cols = 2816;
    KernelData _data = null!;
    ComputePool _pool = null!;
    MatMul _matMul = null!;
    MatMul _reference = null!;
    float[] _y = null!;

    [Params(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F16)]
    public GgmlType Type { get; set; }

    [Params(1, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int cols = Type is GgmlType.Q4_K or GgmlType.Q6_K ? Cols / 256 * 256 : Cols;
        _data = new KernelData(Type, Rows, cols, Batch);
        _pool = ComputePool.ForMachine();
        _matMul = new MatMul(_pool);
        _reference = new MatMul(_pool) { Isa = VecDotIsa.Scalar };
        _y = new float[Batch * Rows];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _data.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Reference() => _reference.Multiply(_data.Matrix, _data.Activations, _y, Batch);

    [Benchmark]
    public void Multiply() => _matMul.Multiply(_data.Matrix, _data.Activations, _y, Batch);
}
