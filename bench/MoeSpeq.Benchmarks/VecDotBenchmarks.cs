using BenchmarkDotNet.Attributes;
using MoeSpeq.Tensors;

namespace MoeSpeq.Benchmarks;

/// <summary>
/// One weight row (4096 elements) dotted with one converted activation row, per type: the fastest kernel on this
/// machine against the scalar reference. The row is hot in L1, so this measures compute, not memory.
/// </summary>
[MemoryDiagnoser]
public class VecDotBenchmarks
{
    const int N = 4096;
    KernelData _data = null!;

    [Params(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K,
            GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.F16, GgmlType.BF16, GgmlType.F32)]
    public GgmlType Type { get; set; }

    [GlobalSetup]
    public void Setup() => _data = new KernelData(Type, 1, N, 1);

    [GlobalCleanup]
    public void Cleanup() => _data.Dispose();

    [Benchmark(Baseline = true)]
    public float Reference() => VecDot.RowReference(Type, _data.Matrix.Row(0), _data.QuantizedRow, N);

    [Benchmark]
    public float Optimized() => VecDot.Row(Type, _data.Matrix.Row(0), _data.QuantizedRow, N);
}
