using MoeSpeq.Formats.Gguf;
using MoeSpeq.Model;
using MoeSpeq.Model.Experts;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Draft experts on disk, as <c>moespeq make-draft</c> writes them: a GGUF file of <c>general.type</c>
/// <see cref="FileType"/> that holds, for every MoE layer of its target, the stacked expert tensors under the
/// target's names (<c>blk.N.ffn_{gate,up,down}_exps.weight</c>, ne = [cols, rows, experts]) converted exactly as
/// <see cref="DraftExperts.Build"/> converts them, and nothing else: routers, expert biases, attention and embeddings stay the
/// target's. The tensors are stacked whatever the target's layout (a repacked target has a tensor per expert),
/// because the file is read whole into memory and never served expert by expert.
/// <para>
/// Its metadata binds it to its target: the architecture, layer count, expert count and expert shapes
/// (<c>{arch}.block_count</c>, <c>.expert_count</c>, <c>.embedding_length</c>, <c>.expert_feed_forward_length</c>),
/// the requested type (<c>draft_experts.type</c>) and the target's <see cref="GgufFingerprint"/>
/// (<c>draft_experts.target.fingerprint</c>, with its file name in <c>draft_experts.target.file</c> for messages).
/// </para>
/// </summary>
public static unsafe class DraftExpertsFile
{
    /// <summary>The <c>general.type</c> of a draft-experts file (llama.cpp writes "model" or "adapter" there).</summary>
    public const string FileType = "draft_experts";
    public const string TypeKey = "draft_experts.type";
    public const string FingerprintKey = "draft_experts.target.fingerprint";
    public const string TargetFileKey = "draft_experts.target.file";

    static readonly (TensorId Id, Func<ExpertWeights, WeightMatrix> Of)[] Stacked =
    [
        (TensorId.FfnGateExperts, w => w.Gate),
        (TensorId.FfnUpExperts, w => w.Up),
        (TensorId.FfnDownExperts, w => w.Down),
    ];

    /// <summary>What was written, for the command's report.</summary>
    public sealed record Summary(int MoeLayers, int Experts, GgmlType RequestedType, IReadOnlySet<GgmlType> UsedTypes);

    /// <summary>
    /// Opens the model at <paramref name="targetPath"/> with its routed experts left in the file and writes the
    /// draft experts of <paramref name="type"/> to <paramref name="outputPath"/> (<see cref="Write"/>).
    /// </summary>
    public static Summary Make(string targetPath, GgmlType type, string outputPath, int threads, Action<int, int>? progress = null)
    {
        if (Path.GetFullPath(targetPath) == Path.GetFullPath(outputPath)) throw new ArgumentException("the draft file must differ from the target");
        _ = NameOf(type); // a type that cannot be written fails before the target is opened
        ExpertLayout? layout = null;
        // Mapped and with experts unloaded, the target costs almost nothing to open: only the experts are read, once each.
        var options = new ModelOptions
        {
            Threads = 1,
            MaxBatch = 1,
            Placement = WeightPlacement.Map,
            LoadExperts = false,
            ExpertExecutor = l =>
            {
                layout = l;
                return NoForward.Instance;
            },
        };
        using var model = ModelLoader.Load(targetPath, options);
        if (layout is null) throw new ArgumentException($"{Path.GetFileName(targetPath)} has no routed experts: a self-draft needs an MoE target");
        return Write(layout, type, outputPath, threads, progress);
    }

    /// <summary>
    /// Converts every routed expert of <paramref name="layout"/> to <paramref name="type"/> (with
    /// <see cref="DraftExperts.TypeFor"/>'s fallbacks) and writes them to <paramref name="path"/>, one MoE layer in
    /// memory at a time; <paramref name="progress"/> receives (experts done, total).
    /// </summary>
    public static Summary Write(ExpertLayout layout, GgmlType type, string path, int threads, Action<int, int>? progress = null)
    {
        string typeName = NameOf(type);
        var c = layout.Config;
        var writer = new GgufWriter()
            .Set("general.architecture", c.Architecture)
            .Set("general.type", FileType)
            .Set($"{c.Architecture}.block_count", (uint)c.BlockCount)
            .Set($"{c.Architecture}.expert_count", (uint)c.ExpertCount)
            .Set($"{c.Architecture}.embedding_length", (uint)c.EmbeddingLength)
            .Set($"{c.Architecture}.expert_feed_forward_length", (uint)c.ExpertFeedForwardLength)
            .Set(TypeKey, typeName)
            .Set(TargetFileKey, Path.GetFileName(layout.File.Path))
            .Set(FingerprintKey, GgufFingerprint.Of(layout.File));

        int[] moeLayers = [.. Enumerable.Range(0, layout.Layers.Length).Where(l => layout.Layers[l].Length > 0)];
        int total = moeLayers.Sum(l => layout.Layers[l].Length), done = 0;
        var used = new HashSet<GgmlType>();
        using var requantizer = ExpertRequantizer.Open(layout);
        ConvertedLayer? converted = null;
        try
        {
            foreach (int l in moeLayers)
                for (int m = 0; m < Stacked.Length; m++)
                {
                    var shape = Stacked[m].Of(layout.Layers[l][0]);
                    var t = DraftExperts.TypeFor(type, shape.Cols);
                    used.Add(t);
                    int layer = l, matrix = m;
                    writer.AddTensor(TensorNames.Gguf(Stacked[m].Id, l), t, [shape.Cols, shape.Rows, layout.Layers[l].Length], s =>
                    {
                        // The writer asks for tensors in the order they were added: a layer's gate comes first.
                        if (converted?.Layer != layer)
                        {
                            converted?.Dispose();
                            converted = ConvertedLayer.Convert(requantizer, layout, layer, type, threads, () => progress?.Invoke(Interlocked.Increment(ref done), total));
                        }
                        converted.WriteTo(matrix, s);
                    });
                }
            writer.WriteTo(path);
        }
        finally
        {
            converted?.Dispose();
        }
        return new Summary(moeLayers.Length, total, type, used);
    }

    /// <summary>The name <c>--draft-experts</c> and <see cref="TypeKey"/> give <paramref name="type"/>; throws for a type that is not one of <see cref="DraftExperts.Types"/>.</summary>
    static string NameOf(GgmlType type)
    {
        DraftExperts.CheckRequestable(type);
        return DraftExperts.Types.FirstOrDefault(t => t.Value == type).Key
            ?? throw new ArgumentException($"{type} is not a draft expert type ({string.Join(", ", DraftExperts.Types.Keys)})");
    }

    /// <summary>One MoE layer's experts converted into its three stacked tensors, in anonymous memory.</summary>
    sealed class ConvertedLayer : IDisposable
    {
        readonly WeightArena _memory;
        readonly (nint Data, long Bytes)[] _tensors;

        ConvertedLayer(int layer, WeightArena memory, (nint Data, long Bytes)[] tensors) => (Layer, _memory, _tensors) = (layer, memory, tensors);

        public int Layer { get; }

        public static ConvertedLayer Convert(ExpertRequantizer requantizer, ExpertLayout layout, int layer, GgmlType type, int threads, Action expertDone)
        {
            var experts = layout.Layers[layer];
            // Gate, up and down: each a stacked tensor of one slice per expert, all in the draft type of its columns.
            var shapes = Stacked.Select(s => s.Of(experts[0])).Select(m => (Type: DraftExperts.TypeFor(type, m.Cols), m.Rows, m.Cols)).ToArray();
            long[] sliceBytes = [.. shapes.Select(m => (long)GgmlTypeInfo.RowBytes(m.Type, m.Cols) * m.Rows)];
            var memory = new WeightArena(sliceBytes.Sum(b => WeightArena.PieceSize(b * experts.Length)));
            try
            {
                var tensors = sliceBytes.Select(b => (Data: (nint)memory.Allocate(b * experts.Length), Bytes: b * experts.Length)).ToArray();
                WeightMatrix Slice(int m, int e) => new(shapes[m].Type, shapes[m].Rows, shapes[m].Cols, (byte*)tensors[m].Data + sliceBytes[m] * e);
                var destination = layout.Layers.Select((_, l) => l == layer ? new ExpertWeights[experts.Length] : []).ToArray();
                for (int e = 0; e < experts.Length; e++) destination[layer][e] = experts[e] with { Gate = Slice(0, e), Up = Slice(1, e), Down = Slice(2, e) };
                requantizer.Convert([.. Enumerable.Range(0, experts.Length).Select(e => new ExpertKey(layer, e))], destination, threads, expertDone);
                return new ConvertedLayer(layer, memory, tensors);
            }
            catch
            {
                memory.Dispose();
                throw;
            }
        }

        public void WriteTo(int matrix, Stream output)
        {
            var (data, bytes) = _tensors[matrix];
            for (long done = 0; done < bytes;)
            {
                int chunk = (int)Math.Min(bytes - done, 1 << 24);
                output.Write(new ReadOnlySpan<byte>((byte*)data + done, chunk));
                done += chunk;
            }
        }

        public void Dispose() => _memory.Dispose();
    }

    /// <summary>
    /// Reads <paramref name="path"/> into anonymous memory as the draft experts of the target of
    /// <paramref name="layout"/>, after checking every binding field and every tensor against that target.
    /// </summary>
    internal static DraftExperts Read(string path, ExpertLayout layout)
    {
        GgufFile file;
        try
        {
            file = GgufFile.Open(path);
        }
        catch (GgufFormatException e)
        {
            throw DraftExpertsFileException.Unreadable(path, e);
        }
        using (file)
        {
            var requested = CheckBinding(path, file, layout);
            var tensors = CheckTensors(path, file, layout);
            return ReadTensors(path, file, layout, tensors, requested);
        }
    }

    /// <summary>The metadata that binds the file to its target; returns the requested type.</summary>
    static GgmlType CheckBinding(string path, GgufFile file, ExpertLayout layout)
    {
        var h = file.Header;
        var c = layout.Config;
        string target = Path.GetFileName(layout.File.Path);
        DraftExpertsFileException Mismatch(string field, string problem) => DraftExpertsFileException.Mismatch(path, field, problem);

        string? kind = h.GetString("general.type");
        if (kind != FileType)
            throw Mismatch("general.type", (kind is null ? "missing" : $"\"{kind}\"") + $" where a draft-experts file has \"{FileType}\": write one with moespeq make-draft");
        string? arch = h.GetString("general.architecture");
        if (arch != c.Architecture)
            throw Mismatch("general.architecture", $"{(arch is null ? "missing" : $"\"{arch}\"")}, but the target {target} is \"{c.Architecture}\"");
        foreach (var (key, expected) in new[]
        {
            ("block_count", c.BlockCount), ("expert_count", c.ExpertCount),
            ("embedding_length", c.EmbeddingLength), ("expert_feed_forward_length", c.ExpertFeedForwardLength),
        })
        {
            long? value = h.GetInt($"{arch}.{key}");
            if (value != expected)
                throw Mismatch($"{arch}.{key}", $"{(value is null ? "missing" : value.ToString())}, but the target {target} has {expected}");
        }
        string? typeName = h.GetString(TypeKey);
        if (typeName is null || !DraftExperts.Types.TryGetValue(typeName, out var requested))
            throw Mismatch(TypeKey, $"{(typeName is null ? "missing" : $"\"{typeName}\"")}; a draft expert type is one of {string.Join(", ", DraftExperts.Types.Keys)}");
        string? madeFrom = h.GetString(FingerprintKey);
        string fingerprint = GgufFingerprint.Of(layout.File);
        if (madeFrom != fingerprint)
        {
            string from = h.GetString(TargetFileKey) is { } name ? $"{name} " : "";
            throw Mismatch(FingerprintKey, madeFrom is null ? "missing"
                : $"made from {from}({Short(madeFrom)}), not from the target {target} ({Short(fingerprint)}): make it again with moespeq make-draft -m {target}");
        }
        return requested;
    }

    static string Short(string fingerprint) => fingerprint.Length > 12 ? fingerprint[..12] + "…" : fingerprint;

    /// <summary>[layer][gate, up, down] tensor of every MoE layer, each of the target's expert shape and a type the kernels multiply.</summary>
    static GgufTensorInfo[][] CheckTensors(string path, GgufFile file, ExpertLayout layout)
    {
        var result = new GgufTensorInfo[layout.Layers.Length][];
        for (int l = 0; l < layout.Layers.Length; l++)
        {
            var experts = layout.Layers[l];
            result[l] = experts.Length == 0 ? [] : new GgufTensorInfo[Stacked.Length];
            for (int m = 0; m < result[l].Length; m++)
            {
                string name = TensorNames.Gguf(Stacked[m].Id, l);
                var shape = Stacked[m].Of(experts[0]);
                long[] expected = [shape.Cols, shape.Rows, experts.Length];
                var t = file.Header.FindTensor(name)
                    ?? throw DraftExpertsFileException.Mismatch(path, name, $"missing: layer {l} of the target has {experts.Length} routed experts");
                if (!t.Dimensions.SequenceEqual(expected))
                    throw DraftExpertsFileException.Mismatch(path, name, $"shape {t.ShapeText}, but the target's experts need [{string.Join(", ", expected)}]");
                if (!ModelWeights.MatrixTypes.Contains(t.Type))
                    throw DraftExpertsFileException.Mismatch(path, name, $"type {t.Type}, which no matrix kernel multiplies");
                result[l][m] = t;
            }
        }
        return result;
    }

    static DraftExperts ReadTensors(string path, GgufFile file, ExpertLayout layout, GgufTensorInfo[][] tensors, GgmlType requested)
    {
        var memory = new WeightArena(tensors.SelectMany(l => l).Sum(t => WeightArena.PieceSize(t.ByteSize)));
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            var layers = new ExpertWeights[tensors.Length][];
            for (int l = 0; l < tensors.Length; l++)
            {
                // Read, not copied from the mapping: the copy would fault every page in through the map first.
                var data = tensors[l].Select(t => ReadInto(path, handle, file.FileOffset(t), t, memory.Allocate(t.ByteSize))).ToArray();
                layers[l] = new ExpertWeights[layout.Layers[l].Length];
                for (int e = 0; e < layers[l].Length; e++)
                    // The file holds only matrices; an expert's biases (gpt-oss) are the target's.
                    layers[l][e] = layout.Layers[l][e] with
                    {
                        Gate = file.Matrix(tensors[l][0], e, (byte*)data[0]),
                        Up = file.Matrix(tensors[l][1], e, (byte*)data[1]),
                        Down = file.Matrix(tensors[l][2], e, (byte*)data[2]),
                    };
            }
            var used = tensors.SelectMany(l => l).Select(t => t.Type).ToHashSet();
            return new DraftExperts(memory, layers, requested, used, $"read from {Path.GetFileName(path)}");
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }

    static nint ReadInto(string path, Microsoft.Win32.SafeHandles.SafeFileHandle handle, long offset, GgufTensorInfo t, byte* destination)
    {
        for (long done = 0; done < t.ByteSize;)
        {
            int chunk = (int)Math.Min(t.ByteSize - done, 1 << 30);
            int read = RandomAccess.Read(handle, new Span<byte>(destination + done, chunk), offset + done);
            if (read <= 0) throw DraftExpertsFileException.Mismatch(path, t.Name, $"the file ends at byte {offset + done} inside the tensor (truncated while open?)");
            done += read;
        }
        return (nint)destination;
    }

    /// <summary>The target's executor while make-draft holds it open: no forward pass is ever run.</summary>
    sealed class NoForward : IExpertExecutor
    {
        public static readonly NoForward Instance = new();

        public void Forward(int layer, ReadOnlySpan<float> residual, ReadOnlySpan<float> hidden, ReadOnlySpan<int> ids, ReadOnlySpan<float> weights, int tokens, int k, Span<float> output) =>
            throw new InvalidOperationException("a model opened to make draft experts runs no forward pass");
    }
}
