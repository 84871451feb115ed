using BenchmarkDotNet.Running;
using MoeSpeq.Benchmarks;

// `--throughput` prints weight-streaming rates (best of many runs, so a busy machine shows its quiet moments);
// anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "--throughput")
{
    Throughput.Run(args.Length > 1 ? int.Parse(args[1]) : 1);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
