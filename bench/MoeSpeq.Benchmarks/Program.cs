using BenchmarkDotNet.Running;
using MoeSpeq.Benchmarks;

// `--throughput [threads] [type]` prints weight-streaming rates (best of many runs, so a busy machine shows its quiet moments);
// `--streaming [threads] [type]` the same kernels over weights far larger than the cache, next to the bandwidth probe;
// anything else goes to BenchmarkDotNet.
if (args.Length > 0 && args[0] == "--throughput")
{
    Throughput.Run(args.Length > 1 ? int.Parse(args[1]) : 1, args.Length > 2 ? args[2] : null);
    return;
}
if (args.Length > 0 && args[0] == "--streaming")
{
    Streaming.Run(args.Length > 1 ? int.Parse(args[1]) : 1, args.Length > 2 ? args[2] : null);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
