namespace MoeSpeq.Tensors;

// Scalar references for the float weight types. They sum in double so the SIMD kernels (float lanes) are
// compared against a value closer to the exact sum than either.
public static unsafe partial class VecDot
{
    static float F32Scalar(byte* w, byte* x, int n)
    {
        float* a = (float*)w, b = (float*)x;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += a[i] * b[i];
        return (float)sum;
    }

    /// <summary>F16 weights · F16 activations: each product is formed in F32 from the two widened halves (as ggml does).</summary>
    static float F16Scalar(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w, b = (ushort*)x;
        float* t = Fp16.Table;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += t[a[i]] * t[b[i]];
        return (float)sum;
    }

    static float BF16Scalar(byte* w, byte* x, int n)
    {
        ushort* a = (ushort*)w, b = (ushort*)x;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Fp16.BF16ToSingle(a[i]) * Fp16.BF16ToSingle(b[i]);
        return (float)sum;
    }
}
