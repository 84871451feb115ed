using System.Text;

namespace MoeSpeq.Experts.Tracing;

/// <summary>One draft-and-verify cycle of a recorded speculative run.</summary>
/// <param name="Depth">k, the tokens drafted.</param>
/// <param name="Accepted">How many of them verification kept, 0..k.</param>
/// <param name="TargetStep">The target trace's forward pass that verified the cycle.</param>
/// <param name="TargetFirstToken">The target trace's token of the cycle's first verified row (the last kept token).</param>
/// <param name="DraftFirstToken">The draft trace's token of the cycle's first draft pass.</param>
public readonly record struct SpeculationCycle(int Depth, int Accepted, int TargetStep, int TargetFirstToken, int DraftFirstToken);

/// <summary>
/// The routing of a speculative run, recorded so that benchmarks can replay it on other models: the target's trace
/// (prompt passes, and one forward pass of k + 1 rows per cycle), the self-draft's trace (one row per draft pass)
/// and each cycle's depth, accepted count and verification pass. Replayed together (<c>SpeculativeRoutingReplay</c>),
/// the draft's expert choices foresee the target's exactly as well as they did on the recorded model, and acceptance
/// is the recorded one; <see cref="KeptRouting"/> is the routing of the tokens the run kept, what plain decoding of
/// the same text routes.
/// </summary>
/// <remarks>
/// File layout (little-endian): "MSST", version u32, cycle count u32, cycles (depth u32, accepted u32, target pass
/// u32)[], then the target's and the draft's <see cref="ExpertTrace"/> files, each after its byte length (i64).
/// </remarks>
public sealed class SpeculationTrace
{
    const uint Magic = 0x5453534D; // "MSST"
    const uint Version = 1;
    const int MaxCycles = 1 << 24, MaxCycleDepth = 64;

    public SpeculationTrace(ExpertTrace target, ExpertTrace draft, IReadOnlyList<(int Depth, int Accepted, int TargetStep)> cycles)
    {
        var t = target.Shape;
        var d = draft.Shape;
        if (t.MoeLayerCount != d.MoeLayerCount || t.Experts != d.Experts || t.K != d.K || t.HasProbabilities != d.HasProbabilities)
            throw new InvalidDataException($"the draft's routing ({d.MoeLayerCount} MoE layers, top-{d.K} of {d.Experts}) does not match the target's ({t.MoeLayerCount}, top-{t.K} of {t.Experts})");
        var list = new SpeculationCycle[cycles.Count];
        var isCycle = new bool[target.Steps.Count];
        int draftToken = 0;
        for (int c = 0; c < cycles.Count; c++)
        {
            var (depth, accepted, stepIndex) = cycles[c];
            if (depth < 0 || depth > MaxCycleDepth || accepted < 0 || accepted > depth)
                throw new InvalidDataException($"cycle {c}: {accepted} accepted of {depth} drafted is impossible");
            if (stepIndex < 0 || stepIndex >= target.Steps.Count || (c > 0 && stepIndex <= list[c - 1].TargetStep))
                throw new InvalidDataException($"cycle {c} names target pass {stepIndex}: passes must ascend within the target trace's {target.Steps.Count}");
            var step = target.Steps[stepIndex];
            if (step.Tokens != depth + 1)
                throw new InvalidDataException($"cycle {c} drafted {depth} tokens but its verification pass has {step.Tokens} rows");
            list[c] = new SpeculationCycle(depth, accepted, stepIndex, step.FirstToken, draftToken);
            isCycle[stepIndex] = true;
            draftToken += depth;
        }
        if (draftToken != draft.TokenCount)
            throw new InvalidDataException($"the cycles drafted {draftToken} tokens; the draft trace has {draft.TokenCount}");
        Target = target;
        Draft = draft;
        Cycles = list;
        _isCycle = isCycle;
        MaxDepth = list.Length == 0 ? 0 : list.Max(c => c.Depth);
        PromptTokens = [.. Enumerable.Range(0, target.Steps.Count).Where(s => !isCycle[s])
            .SelectMany(s => Enumerable.Range(target.Steps[s].FirstToken, target.Steps[s].Tokens))];
    }

    readonly bool[] _isCycle;

    public ExpertTrace Target { get; }
    public ExpertTrace Draft { get; }
    public IReadOnlyList<SpeculationCycle> Cycles { get; }
    /// <summary>The target trace's tokens that were prompts rather than verified drafts, in order.</summary>
    public int[] PromptTokens { get; }
    /// <summary>The deepest cycle recorded.</summary>
    public int MaxDepth { get; }

    /// <summary>Whether <paramref name="path"/> begins like a speculation trace (rather than a plain <see cref="ExpertTrace"/>).</summary>
    public static bool IsSpeculationTrace(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 16);
        Span<byte> head = stackalloc byte[4];
        return stream.Read(head) == 4 && BitConverter.ToUInt32(head) == Magic;
    }

    /// <summary>
    /// The target's routing of the tokens the run kept, one decode pass per token after the prompt: per cycle the
    /// verified rows 0..accepted, whose inputs were the kept tokens (the rows after them verified rejected drafts).
    /// </summary>
    public ExpertTrace KeptRouting()
    {
        var kept = new ExpertTrace(Target.Shape) { LinkBytesPerSecond = Target.LinkBytesPerSecond };
        int cycle = 0;
        for (int s = 0; s < Target.Steps.Count; s++)
        {
            var step = Target.Steps[s];
            if (!_isCycle[s])
            {
                kept.AppendStep(Target, step.FirstToken, step.Tokens, step.ComputeSeconds, step.SequenceStart);
                continue;
            }
            for (int i = 0; i <= Cycles[cycle].Accepted; i++) kept.AppendStep(Target, step.FirstToken + i, 1, 0, sequenceStart: false);
            cycle++;
        }
        return kept;
    }

    /// <summary>Loads either kind of trace as the routing of a plain decode: a speculation trace's <see cref="KeptRouting"/>, or the trace itself.</summary>
    public static ExpertTrace LoadRouting(string path) => IsSpeculationTrace(path) ? Load(path).KeptRouting() : ExpertTrace.Load(path);

    public void Save(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Version);
        w.Write((uint)Cycles.Count);
        foreach (var c in Cycles)
        {
            w.Write((uint)c.Depth);
            w.Write((uint)c.Accepted);
            w.Write((uint)c.TargetStep);
        }
        foreach (var trace in new[] { Target, Draft })
        {
            using var section = new MemoryStream();
            trace.Save(section);
            w.Write(section.Length);
            w.Flush();
            section.Position = 0;
            section.CopyTo(stream);
        }
    }

    /// <summary>Reads a speculation trace, validating it as strictly as <see cref="ExpertTrace.Load(string)"/>; a bad file is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static SpeculationTrace Load(string path) => TraceFile.Load(path, Load);

    public static SpeculationTrace Load(Stream stream)
    {
        using var r = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            if (r.ReadUInt32() != Magic) throw new InvalidDataException("not a speculation trace (bad magic)");
            uint version = r.ReadUInt32();
            if (version != Version) throw new InvalidDataException($"unsupported speculation trace version {version} (expected {Version})");
            uint count = r.ReadUInt32();
            if (count > MaxCycles || count * 12L > stream.Length - stream.Position) throw new InvalidDataException($"{count} cycles do not fit in the file");
            var cycles = new (int, int, int)[count];
            for (int c = 0; c < count; c++)
            {
                uint depth = r.ReadUInt32(), accepted = r.ReadUInt32(), step = r.ReadUInt32();
                if (depth > MaxCycleDepth || accepted > depth) throw new InvalidDataException($"cycle {c}: {accepted} accepted of {depth} drafted is impossible");
                if (step > int.MaxValue) throw new InvalidDataException($"cycle {c}: target pass {step} is out of range");
                cycles[c] = ((int)depth, (int)accepted, (int)step);
            }
            var target = Section(r, stream, "target");
            var draft = Section(r, stream, "draft");
            if (stream.Position != stream.Length) throw new InvalidDataException($"{stream.Length - stream.Position} bytes follow the draft's trace");
            return new SpeculationTrace(target, draft, cycles);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"the speculation trace ends early at byte {stream.Position} of {stream.Length}");
        }
    }

    static ExpertTrace Section(BinaryReader r, Stream stream, string name)
    {
        long length = r.ReadInt64();
        if (length < 0 || length > stream.Length - stream.Position)
            throw new InvalidDataException($"the {name} trace's length {length} does not fit in the file");
        var bytes = r.ReadBytes((int)Math.Min(length, Array.MaxLength));
        if (bytes.Length != length) throw new EndOfStreamException();
        try
        {
            return ExpertTrace.Load(new MemoryStream(bytes, writable: false));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"the {name} trace: {e.Message}", e);
        }
    }
}
