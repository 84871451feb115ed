using System.Runtime.InteropServices;
using System.Text;

namespace MoeSpeq.Experts.Tracing;

/// <summary>The routing shape a trace was recorded on.</summary>
/// <param name="MoeLayers">Model layer index of each MoE layer, ascending; rows are indexed by position in this list.</param>
/// <param name="Depth">Look-ahead distributions recorded per row: the routers of the next 1..Depth MoE layers applied
/// to this layer's residual stream (0 when the trace holds no router probabilities).</param>
/// <param name="ExpertBytes">Matrix bytes of one expert, for turning misses into bytes.</param>
public sealed record TraceShape(string Model, int Layers, int[] MoeLayers, int Experts, int K, bool HasProbabilities, int Depth, long ExpertBytes)
{
    public int MoeLayerCount => MoeLayers.Length;
}

/// <summary>One forward pass: tokens [FirstToken, FirstToken + Tokens), its compute time without I/O stalls, and
/// whether a new sequence started with it.</summary>
public readonly record struct TraceStep(int FirstToken, int Tokens, double ComputeSeconds, bool SequenceStart)
{
    public bool IsDecode => Tokens == 1;
}

/// <summary>
/// Every routed-expert access of a run: per token and MoE layer the chosen experts and their weights, optionally the
/// router's full distribution and the look-ahead distributions of the next MoE layers, and per forward pass its
/// compute time. Replayed offline (<see cref="Analysis.TraceAnalysis"/>) under every eviction policy and Belady's
/// MIN, and as realistic routing for large random-weight models (<see cref="Replay.RoutingReplay"/>).
/// </summary>
/// <remarks>
/// File layout (little-endian): "MSXT", version u32, layers, moe layers, experts, k, depth u32, probabilities u8,
/// expert bytes i64, link bytes/s f64, model name (u32 length + UTF-8), moe layer indices u32[], step count u32,
/// steps (tokens u32, compute seconds f64, sequence start u8)[], then ids i32[T·M·k], weights f32[T·M·k] and, with
/// probabilities, probs f32[T·M·E] and look-ahead f32[T·M·depth·E] (NaN where no MoE layer lies that far ahead).
/// </remarks>
public sealed class ExpertTrace
{
    const uint Magic = 0x5458534D; // "MSXT"
    const uint Version = 1;
    const int MaxLayers = 4096, MaxExperts = 1 << 16, MaxDepth = 16, MaxNameBytes = 4096;
    const int MaxSteps = 1 << 26;

    readonly List<TraceStep> _steps = [];
    readonly int[] _moeIndex; // [layer] → position in MoeLayers, or −1
    int[] _ids = [];
    float[] _weights = [], _probs = [], _lookahead = [];

    public ExpertTrace(TraceShape shape)
    {
        Validate(shape);
        Shape = shape;
        _moeIndex = new int[shape.Layers];
        Array.Fill(_moeIndex, -1);
        for (int m = 0; m < shape.MoeLayers.Length; m++) _moeIndex[shape.MoeLayers[m]] = m;
    }

    public TraceShape Shape { get; }
    public IReadOnlyList<TraceStep> Steps => _steps;
    public int TokenCount { get; private set; }
    /// <summary>Measured aggregate bandwidth of the slow tier during the run, bytes/s (0 when unknown, e.g. resident).</summary>
    public double LinkBytesPerSecond { get; set; }

    /// <summary>Position of <paramref name="layer"/> among the MoE layers, or −1 for a dense layer.</summary>
    public int MoeIndexOf(int layer) => (uint)layer < (uint)_moeIndex.Length ? _moeIndex[layer] : -1;

    int RowsPerToken => Shape.MoeLayerCount;
    int Row(int token, int moe)
    {
        if ((uint)token >= (uint)TokenCount || (uint)moe >= (uint)RowsPerToken)
            throw new ArgumentOutOfRangeException(nameof(token), $"no row for token {token}, MoE layer {moe}");
        return token * RowsPerToken + moe;
    }

    /// <summary>[k] experts chosen for <paramref name="token"/> at MoE layer <paramref name="moe"/>, best first.</summary>
    public ReadOnlySpan<int> Ids(int token, int moe) => _ids.AsSpan(Row(token, moe) * Shape.K, Shape.K);
    /// <summary>[k] their mixing weights.</summary>
    public ReadOnlySpan<float> Weights(int token, int moe) => _weights.AsSpan(Row(token, moe) * Shape.K, Shape.K);
    /// <summary>[experts] the router's softmax distribution (requires <see cref="TraceShape.HasProbabilities"/>).</summary>
    public ReadOnlySpan<float> Probabilities(int token, int moe) => _probs.AsSpan(Row(token, moe) * Shape.Experts, Shape.Experts);
    /// <summary>[experts] MoE layer moe + depth's router applied to layer moe's residual; NaN when that layer does not exist.</summary>
    public ReadOnlySpan<float> Lookahead(int token, int moe, int depth)
    {
        if (depth < 1 || depth > Shape.Depth) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"the trace holds look-ahead to depth {Shape.Depth}");
        return _lookahead.AsSpan(((Row(token, moe) * Shape.Depth) + depth - 1) * Shape.Experts, Shape.Experts);
    }

    /// <summary>Opens a forward pass of <paramref name="tokens"/> tokens; its rows are then written through <see cref="Row"/>.</summary>
    internal void BeginStep(int tokens, bool sequenceStart)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(tokens, 1);
        _steps.Add(new TraceStep(TokenCount, tokens, 0, sequenceStart));
        TokenCount += tokens;
        int rows = TokenCount * RowsPerToken;
        Grow(ref _ids, rows * Shape.K);
        Grow(ref _weights, rows * Shape.K);
        if (!Shape.HasProbabilities) return;
        Grow(ref _probs, rows * Shape.Experts);
        Grow(ref _lookahead, rows * Shape.Depth * Shape.Experts);
    }

    internal void EndStep(double computeSeconds)
    {
        if (_steps.Count == 0) return;
        _steps[^1] = _steps[^1] with { ComputeSeconds = Math.Max(0, computeSeconds) };
    }

    /// <summary>Writable spans of one row, for the recorder: ids, weights [k]; probs [experts]; look-ahead [depth, experts].</summary>
    internal readonly ref struct RowSpans(Span<int> ids, Span<float> weights, Span<float> probs, Span<float> lookahead)
    {
        public Span<int> Ids { get; } = ids;
        public Span<float> Weights { get; } = weights;
        public Span<float> Probs { get; } = probs;
        public Span<float> Lookahead { get; } = lookahead;
    }

    internal RowSpans WritableRow(int token, int moe)
    {
        int row = Row(token, moe);
        int e = Shape.Experts;
        return new RowSpans(_ids.AsSpan(row * Shape.K, Shape.K), _weights.AsSpan(row * Shape.K, Shape.K),
            Shape.HasProbabilities ? _probs.AsSpan(row * e, e) : default,
            Shape.HasProbabilities ? _lookahead.AsSpan(row * Shape.Depth * e, Shape.Depth * e) : default);
    }

    /// <summary>
    /// Appends a forward pass holding copies of <paramref name="tokens"/> rows of <paramref name="source"/> from
    /// <paramref name="firstToken"/>: how a speculative run's routing is cut down to the tokens it kept.
    /// </summary>
    internal void AppendStep(ExpertTrace source, int firstToken, int tokens, double computeSeconds, bool sequenceStart)
    {
        if (source.Shape.MoeLayerCount != Shape.MoeLayerCount || source.Shape.Experts != Shape.Experts || source.Shape.K != Shape.K
            || source.Shape.HasProbabilities != Shape.HasProbabilities || source.Shape.Depth != Shape.Depth)
            throw new ArgumentException("the source trace has another routing shape", nameof(source));
        int to = TokenCount;
        BeginStep(tokens, sequenceStart);
        EndStep(computeSeconds);
        int rows = RowsPerToken * tokens, from = source.Row(firstToken, 0), at = to * RowsPerToken;
        source.Row(firstToken + tokens - 1, 0);
        int k = Shape.K, e = Shape.Experts;
        source._ids.AsSpan(from * k, rows * k).CopyTo(_ids.AsSpan(at * k));
        source._weights.AsSpan(from * k, rows * k).CopyTo(_weights.AsSpan(at * k));
        if (!Shape.HasProbabilities) return;
        source._probs.AsSpan(from * e, rows * e).CopyTo(_probs.AsSpan(at * e));
        source._lookahead.AsSpan(from * Shape.Depth * e, rows * Shape.Depth * e).CopyTo(_lookahead.AsSpan(at * Shape.Depth * e));
    }

    static void Grow<T>(ref T[] array, int needed)
    {
        if (array.Length >= needed) return;
        Array.Resize(ref array, Math.Max(needed, (int)Math.Min(Array.MaxLength, array.Length * 2L)));
    }

    public void Save(string path)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        Save(stream);
    }

    public void Save(Stream stream)
    {
        RequireLittleEndian();
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        var s = Shape;
        w.Write(Magic);
        w.Write(Version);
        foreach (int v in new[] { s.Layers, s.MoeLayerCount, s.Experts, s.K, s.Depth }) w.Write((uint)v);
        w.Write((byte)(s.HasProbabilities ? 1 : 0));
        w.Write(s.ExpertBytes);
        w.Write(LinkBytesPerSecond);
        var name = Encoding.UTF8.GetBytes(s.Model);
        if (name.Length > MaxNameBytes) name = name[..MaxNameBytes];
        w.Write((uint)name.Length);
        w.Write(name);
        foreach (int l in s.MoeLayers) w.Write((uint)l);
        w.Write((uint)_steps.Count);
        foreach (var step in _steps)
        {
            w.Write((uint)step.Tokens);
            w.Write(step.ComputeSeconds);
            w.Write((byte)(step.SequenceStart ? 1 : 0));
        }
        int rows = TokenCount * RowsPerToken;
        w.Write(MemoryMarshal.AsBytes(_ids.AsSpan(0, rows * s.K)));
        w.Write(MemoryMarshal.AsBytes(_weights.AsSpan(0, rows * s.K)));
        if (s.HasProbabilities)
        {
            w.Write(MemoryMarshal.AsBytes(_probs.AsSpan(0, rows * s.Experts)));
            w.Write(MemoryMarshal.AsBytes(_lookahead.AsSpan(0, rows * s.Depth * s.Experts)));
        }
    }

    /// <summary>Reads a trace file, validating every count against the bytes that follow; a bad file is an <see cref="InvalidDataException"/> naming what is wrong.</summary>
    public static ExpertTrace Load(string path) => TraceFile.Load(path, Load);

    public static ExpertTrace Load(Stream stream)
    {
        RequireLittleEndian();
        using var r = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        long length = stream.Length;
        try
        {
            if (r.ReadUInt32() != Magic) throw Bad(stream, "not an expert trace (bad magic)");
            uint version = r.ReadUInt32();
            if (version != Version) throw Bad(stream, $"unsupported trace version {version} (expected {Version})");
            int layers = Count(r, stream, "layer count", 1, MaxLayers);
            int moeLayers = Count(r, stream, "MoE layer count", 1, layers);
            int experts = Count(r, stream, "expert count", 1, MaxExperts);
            int k = Count(r, stream, "experts per token", 1, experts);
            int depth = Count(r, stream, "look-ahead depth", 0, MaxDepth);
            byte probabilities = r.ReadByte();
            if (probabilities > 1) throw Bad(stream, $"probabilities flag {probabilities} is not 0 or 1");
            long expertBytes = r.ReadInt64();
            if (expertBytes < 0) throw Bad(stream, $"expert bytes {expertBytes} is negative");
            double link = r.ReadDouble();
            if (!double.IsFinite(link) || link < 0) throw Bad(stream, $"link bandwidth {link} is not a finite non-negative number");
            int nameLength = Count(r, stream, "model name length", 0, MaxNameBytes);
            string name = Encoding.UTF8.GetString(r.ReadBytes(nameLength));
            var moe = new int[moeLayers];
            for (int m = 0; m < moeLayers; m++)
            {
                moe[m] = Count(r, stream, $"MoE layer {m}", 0, layers - 1);
                if (m > 0 && moe[m] <= moe[m - 1]) throw Bad(stream, $"MoE layer indices must ascend ({moe[m - 1]}, then {moe[m]})");
            }
            var trace = new ExpertTrace(new TraceShape(name, layers, moe, experts, k, probabilities == 1, probabilities == 1 ? depth : 0, expertBytes))
            {
                LinkBytesPerSecond = link,
            };
            int steps = Count(r, stream, "step count", 0, MaxSteps);
            const int StepBytes = 13;
            if ((long)steps * StepBytes > length - stream.Position) throw Bad(stream, $"{steps} steps do not fit in the file");
            for (int i = 0; i < steps; i++)
            {
                int tokens = Count(r, stream, $"tokens of step {i}", 1, int.MaxValue);
                double seconds = r.ReadDouble();
                if (!double.IsFinite(seconds) || seconds < 0) throw Bad(stream, $"compute time of step {i} is {seconds}");
                byte start = r.ReadByte();
                if (start > 1) throw Bad(stream, $"sequence flag of step {i} is {start}");
                if ((long)trace.TokenCount + tokens > MaxSteps) throw Bad(stream, "too many tokens");
                trace._steps.Add(new TraceStep(trace.TokenCount, tokens, seconds, start == 1));
                trace.TokenCount += tokens;
            }
            long rows = (long)trace.TokenCount * moeLayers;
            long perRow = 4L * (2 * k + (probabilities == 1 ? experts * (1L + depth) : 0));
            long payload = checked(rows * perRow);
            long remaining = length - stream.Position;
            if (payload != remaining)
                throw Bad(stream, $"{trace.TokenCount} tokens × {moeLayers} MoE layers need {payload} bytes of rows, the file has {remaining}");
            if (rows * Math.Max(k, experts * (1L + depth)) > Array.MaxLength) throw Bad(stream, "the trace is too large to load");
            trace._ids = ReadArray<int>(r, rows * k);
            trace._weights = ReadArray<float>(r, rows * k);
            if (probabilities == 1)
            {
                trace._probs = ReadArray<float>(r, rows * experts);
                trace._lookahead = ReadArray<float>(r, rows * depth * experts);
            }
            foreach (int id in trace._ids.AsSpan())
                if ((uint)id >= (uint)experts) throw new InvalidDataException($"expert id {id} is outside 0..{experts - 1}");
            foreach (float v in trace._weights.AsSpan())
                if (!float.IsFinite(v)) throw new InvalidDataException($"a routing weight is {v}");
            return trace;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"the trace ends early at byte {stream.Position} of {length}");
        }
    }

    static T[] ReadArray<T>(BinaryReader r, long count) where T : unmanaged
    {
        var array = new T[count];
        var bytes = MemoryMarshal.AsBytes(array.AsSpan());
        if (r.Read(bytes) != bytes.Length) throw new EndOfStreamException();
        return array;
    }

    static int Count(BinaryReader r, Stream s, string what, int min, int max)
    {
        long at = s.Position;
        uint v = r.ReadUInt32();
        if (v < min || v > max) throw new InvalidDataException($"{what} {v} at byte {at} is outside {min}..{max}");
        return (int)v;
    }

    static InvalidDataException Bad(Stream s, string message) => new($"{message} (at byte {s.Position})");

    static void Validate(TraceShape s)
    {
        if (s.Layers < 1 || s.Layers > MaxLayers) throw new ArgumentException($"layer count {s.Layers} is outside 1..{MaxLayers}");
        if (s.MoeLayers.Length == 0 || s.MoeLayers.Any(l => (uint)l >= (uint)s.Layers)) throw new ArgumentException("MoE layers must be a non-empty list of layer indices");
        if (s.Experts < 1 || s.Experts > MaxExperts || s.K < 1 || s.K > s.Experts) throw new ArgumentException($"{s.K} of {s.Experts} experts is not a routing shape");
        if (s.Depth < 0 || s.Depth > MaxDepth || (!s.HasProbabilities && s.Depth != 0)) throw new ArgumentException($"look-ahead depth {s.Depth} is outside 0..{MaxDepth}");
    }

    static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("expert traces are little-endian");
    }
}
