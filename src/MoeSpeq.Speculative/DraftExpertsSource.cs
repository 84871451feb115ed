using MoeSpeq.Model;
using MoeSpeq.Tensors;

namespace MoeSpeq.Speculative;

/// <summary>
/// Where a self-draft's experts come from: the target's own, requantized while it loads (<see cref="AtLoad"/>), or a
/// file that <c>moespeq make-draft</c> wrote from it ahead of time (<see cref="FromFile"/>), which saves the
/// conversion at every start.
/// </summary>
public abstract record DraftExpertsSource
{
    DraftExpertsSource() { }

    /// <summary>Every routed expert converted to <paramref name="Type"/> at load (<see cref="DraftExperts.Build"/>).</summary>
    public sealed record AtLoad(GgmlType Type) : DraftExpertsSource
    {
        public override DraftExperts Create(ExpertLayout layout, int threads, Action<int, int>? progress) =>
            DraftExperts.Build(layout, Type, threads, progress);
    }

    /// <summary>The experts a make-draft file holds, read into memory and checked against the target (<see cref="DraftExperts.Load"/>).</summary>
    public sealed record FromFile(string Path) : DraftExpertsSource
    {
        public override DraftExperts Create(ExpertLayout layout, int threads, Action<int, int>? progress) =>
            DraftExperts.Load(Path, layout);
    }

    /// <summary>The draft experts of the target whose routed experts <paramref name="layout"/> describes.</summary>
    public abstract DraftExperts Create(ExpertLayout layout, int threads, Action<int, int>? progress);

    /// <summary>A type name of <see cref="DraftExperts.Types"/>, else the path of an existing file.</summary>
    public static DraftExpertsSource Parse(string text)
    {
        if (DraftExperts.Types.TryGetValue(text, out var type)) return new AtLoad(type);
        if (File.Exists(text)) return new FromFile(text);
        throw new ArgumentException($"\"{text}\" is neither a draft expert type ({string.Join(", ", DraftExperts.Types.Keys)}) nor an existing file");
    }
}
