using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// Rotary position embedding. θ_i = pos · freqScale · base^(−2i/d) for pair i of the first d dimensions of each
/// head; the angle is built by repeated multiplication in float, as ggml's rope cache does, so angles agree with
/// llama.cpp to the last bit for long positions too.
/// </summary>
public sealed class Rope
{
    readonly int _dims;
    readonly float _thetaScale;
    readonly float _freqScale;
    readonly RopeMode _mode;

    public Rope(int dims, float freqBase, float freqScale, RopeMode mode)
    {
        _dims = dims;
        _thetaScale = MathF.Pow(freqBase, -2f / dims);
        _freqScale = freqScale;
        _mode = mode;
    }

    /// <summary>Rotated dimensions per head.</summary>
    public int Dims => _dims;

    /// <summary>Fills cos/sin [dims/2] for position <paramref name="pos"/>.</summary>
    public void Angles(int pos, Span<float> cos, Span<float> sin)
    {
        Debug.Assert(cos.Length >= _dims / 2 && sin.Length >= _dims / 2);
        float theta = pos;
        for (int i = 0; i < _dims / 2; i++)
        {
            float angle = theta * _freqScale;
            cos[i] = MathF.Cos(angle);
            sin[i] = MathF.Sin(angle);
            theta *= _thetaScale;
        }
    }

    /// <summary>Rotates every head of <paramref name="heads"/> ([nHeads, headWidth]) in place with one position's angles.</summary>
    public void Apply(Span<float> heads, int headWidth, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = _dims / 2;
        for (int h = 0; h + headWidth <= heads.Length; h += headWidth)
        {
            var x = heads.Slice(h, headWidth);
            for (int i = 0; i < half; i++)
            {
                int a = _mode == RopeMode.Norm ? 2 * i : i;
                int b = _mode == RopeMode.Norm ? 2 * i + 1 : i + half;
                float x0 = x[a], x1 = x[b];
                x[a] = x0 * cos[i] - x1 * sin[i];
                x[b] = x0 * sin[i] + x1 * cos[i];
            }
        }
    }
}
