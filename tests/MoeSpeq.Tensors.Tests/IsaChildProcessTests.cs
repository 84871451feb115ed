using System.Diagnostics;
using Xunit;

namespace MoeSpeq.Tensors.Tests;

/// <summary>
/// Re-runs <see cref="VecDotTests"/>, <see cref="MatMulTests"/> and <see cref="MXFP4Tests"/> in child processes with the runtime told to hide
/// instruction sets, so the AVX2 and scalar dispatch paths are exercised on an AVX-512 machine. The child asserts
/// which path the dispatcher picked (<see cref="VecDotTests.DispatcherPicksExpectedIsa"/>).
/// </summary>
public class IsaChildProcessTests
{
    public const string ExpectedIsaVariable = "MOESPEQ_EXPECT_ISA";

    [Theory]
    // .NET 10 reads DOTNET_EnableAVX512 for the whole AVX-512 family; older runtimes read DOTNET_EnableAVX512F.
    [InlineData("DOTNET_EnableAVX512,DOTNET_EnableAVX512F", VecDotIsa.Avx2)]
    // The AVX2 kernels use AVX-VNNI when present; this leg covers their plain-AVX2 multiply-add form.
    [InlineData("DOTNET_EnableAVX512,DOTNET_EnableAVX512F,DOTNET_EnableAVXVNNI", VecDotIsa.Avx2)]
    [InlineData("DOTNET_EnableAVX2", VecDotIsa.Scalar)]
    [InlineData("DOTNET_EnableHWIntrinsic", VecDotIsa.Scalar)]
    public async Task KernelTestsPassWithInstructionSetDisabled(string switches, VecDotIsa expected)
    {
        string switchName = switches;
        if (VecDot.Isa < expected) Assert.Skip($"this machine runs {VecDot.Isa}; hiding {switchName} tests nothing new");
        if (VecDot.Isa == expected && expected != VecDotIsa.Scalar) Assert.Skip($"this machine already runs {expected} without hiding anything");

        string assembly = typeof(IsaChildProcessTests).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(assembly);
        foreach (var cls in new[] { typeof(VecDotTests), typeof(MatMulTests), typeof(MXFP4Tests) })
        {
            psi.ArgumentList.Add("-class");
            psi.ArgumentList.Add(cls.FullName!);
        }
        foreach (var name in switches.Split(',')) psi.Environment[name] = "0";
        psi.Environment[ExpectedIsaVariable] = expected.ToString();

        using var child = Process.Start(psi)!;
        var stdout = child.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = child.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await child.WaitForExitAsync(TestContext.Current.CancellationToken);
        string output = await stdout + await stderr;
        Assert.True(child.ExitCode == 0, $"child with {switchName}=0 failed (exit {child.ExitCode}):\n{output}");
        // Guard against a filter that matched nothing, or a child that skipped the ISA assertion.
        Assert.Matches(@"Total: [1-9][0-9]*, Errors: 0, Failed: 0, Skipped: 0", output);
    }
}
