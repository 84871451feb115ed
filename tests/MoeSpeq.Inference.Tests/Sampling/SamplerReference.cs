using MoeSpeq.Inference.Sampling;

namespace MoeSpeq.Inference.Tests.Sampling;

/// <summary>
/// The sampler's chain written the obvious way (full sort, LINQ, no buffers), to test the optimised one against.
/// It follows llama.cpp: penalty, top-k, top-p and min-p on untempered logits, then temperature and softmax.
/// </summary>
static class SamplerReference
{
    public static float[] Distribution(float[] logits, int[] recent, SamplerOptions o)
    {
        var l = logits.Select(x => float.IsPositiveInfinity(x) ? float.MaxValue : x).ToArray();
        if (o.RepeatPenalty != 1 && o.RepeatLastN != 0)
        {
            var window = o.RepeatLastN < 0 ? recent : recent.TakeLast(o.RepeatLastN);
            foreach (int t in window.Distinct()) l[t] = l[t] > 0 ? l[t] / o.RepeatPenalty : l[t] * o.RepeatPenalty;
        }
        var ranked = Enumerable.Range(0, l.Length).Where(i => l[i] > float.NegativeInfinity)
            .OrderByDescending(i => l[i]).ThenBy(i => i).ToList();
        var result = new float[l.Length];
        if (o.Temperature == 0)
        {
            result[ranked[0]] = 1;
            return result;
        }
        if (o.TopK > 0) ranked = ranked.Take(o.TopK).ToList();
        float max = l[ranked[0]];
        if (o.TopP < 1)
        {
            double z = ranked.Sum(i => (double)MathF.Exp(l[i] - max));
            double cumulative = 0;
            int keep = ranked.Count;
            for (int k = 0; k < ranked.Count; k++)
            {
                cumulative += MathF.Exp(l[ranked[k]] - max);
                if (cumulative >= o.TopP * z)
                {
                    keep = k + 1;
                    break;
                }
            }
            ranked = ranked.Take(keep).ToList();
        }
        if (o.MinP > 0) ranked = ranked.Where(i => l[i] >= max + MathF.Log(o.MinP)).ToList();
        var weights = ranked.Select(i => (double)MathF.Exp((l[i] - max) / o.Temperature)).ToList();
        double total = weights.Sum();
        for (int k = 0; k < ranked.Count; k++) result[ranked[k]] = (float)(weights[k] / total);
        return result;
    }
}
