namespace MoeSpeq.Experts.Eviction;

/// <summary>The eviction policies by the names <c>--cache-policy</c> takes.</summary>
public static class EvictionPolicies
{
    static readonly Dictionary<string, Func<int, int, int, IEvictionPolicy>> Factories = new(StringComparer.Ordinal)
    {
        ["lru"] = (layers, experts, _) => new LruPolicy(layers, experts),
        ["lfu"] = (layers, experts, _) => new LfuPolicy(layers, experts),
        ["activation"] = (layers, experts, _) => new ActivationPolicy(layers, experts),
        ["lookahead"] = (layers, experts, used) => new LookaheadPolicy(layers, experts, used),
    };

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    /// <param name="expertsUsed">The router's k, a prior for policies that estimate how often an expert is used (0: unknown).</param>
    public static IEvictionPolicy Create(string name, int layers, int experts, int expertsUsed = 0) =>
        Factories.TryGetValue(name, out var create)
            ? create(layers, experts, expertsUsed)
            : throw new ArgumentException($"unknown cache policy \"{name}\" (choose from {string.Join(", ", Factories.Keys)})");
}
