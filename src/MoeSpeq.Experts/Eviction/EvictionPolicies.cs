namespace MoeSpeq.Experts.Eviction;

/// <summary>The eviction policies by the names <c>--cache-policy</c> takes.</summary>
public static class EvictionPolicies
{
    static readonly Dictionary<string, Func<int, int, IEvictionPolicy>> Factories = new(StringComparer.Ordinal)
    {
        ["lru"] = (layers, experts) => new LruPolicy(layers, experts),
        ["lfu"] = (layers, experts) => new LfuPolicy(layers, experts),
        ["activation"] = (layers, experts) => new ActivationPolicy(layers, experts),
    };

    public static IReadOnlyCollection<string> Names => Factories.Keys;

    public static IEvictionPolicy Create(string name, int layers, int experts) =>
        Factories.TryGetValue(name, out var create)
            ? create(layers, experts)
            : throw new ArgumentException($"unknown cache policy \"{name}\" (choose from {string.Join(", ", Factories.Keys)})");
}
