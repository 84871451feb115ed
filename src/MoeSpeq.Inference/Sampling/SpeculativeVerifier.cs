namespace MoeSpeq.Inference.Sampling;

/// <summary>
/// Decides which draft tokens the target keeps. Greedy: the longest prefix of drafts equal to the target's own
/// choice at each position, then the target's choice where they part (or after the last draft): the output is
/// exactly plain greedy decoding's. Sampling: speculative sampling with rejection (Leviathan et al. 2023, Chen et
/// al. 2023): draft x ~ q is kept with probability min(1, p(x)/q(x)); the first rejected position draws from the
/// residual max(0, p − q) normalised; if every draft is kept, one more token comes from p. Every emitted token is
/// then distributed exactly as the target's sampler would draw it, whatever q is. p and q are the full sampler
/// chains (penalty, top-k/p, min-p, temperature) over each position's own prefix.
/// </summary>
public sealed class SpeculativeVerifier
{
    readonly Sampler _target;
    readonly float[] _p, _residual;

    /// <param name="target">The generation's sampler: its options define p, its random stream decides acceptance.</param>
    public SpeculativeVerifier(Sampler target, int vocab)
    {
        _target = target;
        _p = new float[vocab];
        _residual = new float[vocab];
    }

    /// <summary>
    /// Verifies the drafts at sequence[length..length+k) against the target's logits rows ([k + 1, vocab]; row i
    /// follows sequence[..length+i]). <paramref name="draftProbabilities"/> holds q of each draft ([k, vocab];
    /// unused when greedy). Returns how many drafts were accepted and writes the target's token after them to
    /// <paramref name="next"/>. <paramref name="sequence"/> must hold the drafts after the first length tokens.
    /// </summary>
    public int Verify(ReadOnlySpan<float> targetLogits, ReadOnlySpan<int> sequence, int length, int k, ReadOnlySpan<float> draftProbabilities, out int next)
    {
        int vocab = _p.Length;
        for (int i = 0; i <= k; i++)
        {
            var row = targetLogits.Slice(i * vocab, vocab);
            var recent = sequence[..(length + i)]; // the sampler's penalty looks at the last RepeatLastN of these
            if (_target.Options.IsGreedy)
            {
                int choice = _target.Sample(row, recent);
                if (i < k && choice == sequence[length + i]) continue;
                next = choice;
                return i;
            }
            if (i == k)
            {
                next = _target.Sample(row, recent);
                return k;
            }
            int draft = sequence[length + i];
            var q = draftProbabilities.Slice(i * vocab, vocab);
            _target.Distribution(row, recent, _p);
            // Accept when u < p/q, i.e. u·q < p; a draft token of q = 0 cannot have been drawn.
            if (_target.NextUniform() * q[draft] < _p[draft]) continue;
            bool any = false;
            for (int v = 0; v < vocab; v++)
            {
                float r = _p[v] - q[v];
                _residual[v] = r > 0 ? r : 0;
                any |= r > 0;
            }
            // p ≤ q everywhere means p = q, and then a rejection has probability 0; rounding may still get here.
            next = any ? _target.SampleFrom(_residual) : _target.SampleFrom(_p);
            return i;
        }
        throw new InvalidOperationException("unreachable");
    }
}
