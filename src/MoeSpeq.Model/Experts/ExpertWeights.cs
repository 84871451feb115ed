using MoeSpeq.Tensors;

namespace MoeSpeq.Model.Experts;

/// <summary>One expert's SwiGLU matrices: gate and up [ffn, dim], down [dim, ffn].</summary>
public readonly record struct ExpertWeights(WeightMatrix Gate, WeightMatrix Up, WeightMatrix Down);
