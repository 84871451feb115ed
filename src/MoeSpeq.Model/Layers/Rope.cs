using System.Diagnostics;

namespace MoeSpeq.Model.Layers;

/// <summary>
/// YaRN's extrapolation mix (arXiv 2309.00071): the rotary pairs between the correction dimensions blend the
/// interpolated angle (position · freqScale) with the unscaled one, and every cos/sin is scaled by the magnitude
/// correction. <paramref name="ExtFactor"/> 0 turns the mix off.
/// </summary>
public sealed record YarnParameters(float ExtFactor, int OriginalContext, float BetaFast, float BetaSlow);

/// <summary>
/// Rotary position embedding, with ggml's <c>rope_ext</c> semantics. Pair i of the first d dimensions of a head turns by
/// θ_i = pos · base^(−2i/d) / factor_i, interpolated by freqScale (linear, YaRN) and optionally mixed back towards
/// the unscaled angle (YaRN), and cos/sin are multiplied by an attention factor (YaRN's mscale, LongRoPE's
/// attn_factor). The angle is built by repeated multiplication in float, as ggml's rope cache does, so angles agree
/// with llama.cpp to the last bit for long positions too.
/// </summary>
public sealed class Rope
{
    readonly int _dims;
    readonly float _thetaScale;
    readonly float _freqScale;
    readonly RopeMode _mode;
    readonly float[]? _freqFactors;
    readonly float _attnFactor;
    readonly float _extFactor;
    readonly float _corrLow, _corrHigh;

    /// <param name="freqFactors">Per-pair divisors of the frequency [dims/2] (LongRoPE, Llama-3 rope_freqs), or null.</param>
    /// <param name="attnFactor">Multiplier of every cos and sin.</param>
    /// <param name="yarn">YaRN's extrapolation mix, or null for none.</param>
    public Rope(int dims, float freqBase, float freqScale, RopeMode mode, float[]? freqFactors = null, float attnFactor = 1f, YarnParameters? yarn = null)
    {
        if (freqFactors is not null && freqFactors.Length < dims / 2)
            throw new ArgumentException($"need {dims / 2} frequency factors, got {freqFactors.Length}", nameof(freqFactors));
        _dims = dims;
        _thetaScale = MathF.Pow(freqBase, -2f / dims);
        _freqScale = freqScale;
        _mode = mode;
        _freqFactors = freqFactors;
        _attnFactor = attnFactor;
        _extFactor = yarn?.ExtFactor ?? 0f;
        if (yarn is { } y && y.ExtFactor != 0f)
        {
            // The pairs whose wavelength spans between BetaFast and BetaSlow rotations over the original context.
            _corrLow = MathF.Max(0, MathF.Floor(CorrectionDim(dims, y.OriginalContext, y.BetaFast, freqBase)));
            _corrHigh = MathF.Min(dims - 1, MathF.Ceiling(CorrectionDim(dims, y.OriginalContext, y.BetaSlow, freqBase)));
        }
    }

    /// <summary>Rotated dimensions per head.</summary>
    public int Dims => _dims;

    /// <summary>The dimension whose pair turns <paramref name="rotations"/> times over <paramref name="context"/> positions.</summary>
    static float CorrectionDim(int dims, int context, float rotations, float freqBase) =>
        dims * MathF.Log(context / (rotations * 2 * MathF.PI)) / (2 * MathF.Log(freqBase));

    /// <summary>Fills cos/sin [dims/2] for position <paramref name="pos"/>.</summary>
    public void Angles(int pos, Span<float> cos, Span<float> sin)
    {
        Debug.Assert(cos.Length >= _dims / 2 && sin.Length >= _dims / 2);
        float theta = pos;
        for (int i = 0; i < _dims / 2; i++)
        {
            float extrapolated = _freqFactors is { } ff ? theta / ff[i] : theta;
            float angle = _freqScale * extrapolated;
            float mscale = _attnFactor;
            if (_extFactor != 0f)
            {
                float ramp = (1 - MathF.Min(1, MathF.Max(0, (i - _corrLow) / MathF.Max(0.001f, _corrHigh - _corrLow)))) * _extFactor;
                angle = angle * (1 - ramp) + extrapolated * ramp;
                mscale *= 1f + 0.1f * MathF.Log(1f / _freqScale);
            }
            cos[i] = MathF.Cos(angle) * mscale;
            sin[i] = MathF.Sin(angle) * mscale;
            theta *= _thetaScale;
        }
    }

    /// <summary>Fills cos/sin [n, dims/2] for positions pos0 … pos0 + n − 1.</summary>
    public void Angles(int pos0, int n, Span<float> cos, Span<float> sin)
    {
        int half = _dims / 2;
        for (int t = 0; t < n; t++) Angles(pos0 + t, cos.Slice(t * half, half), sin.Slice(t * half, half));
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
