using System.Globalization;

namespace MoeSpeq.Formats.Gguf;

/// <summary>Type tags of GGUF metadata values, with the ids the format stores.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One metadata value. Scalars are held as their CLR type (byte, sbyte, ushort, short, uint, int, float, bool,
/// string, ulong, long, double); arrays as a <see cref="GgufArray"/>.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value)
{
    /// <summary>The value as an integer, whatever integer type the writer chose; null for non-integers or out of range.</summary>
    public long? AsInt64() => Value switch
    {
        byte v => v,
        sbyte v => v,
        ushort v => v,
        short v => v,
        uint v => v,
        int v => v,
        long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        bool v => v ? 1 : 0,
        _ => null,
    };

    /// <summary>The value as a double for any numeric type; null otherwise.</summary>
    public double? AsDouble() => Value switch
    {
        float v => v,
        double v => v,
        _ => AsInt64(),
    };

    public override string ToString() => Value switch
    {
        string s => s,
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        GgufArray a => a.ToString(),
        _ => Convert.ToString(Value, CultureInfo.InvariantCulture) ?? "",
    };
}

/// <summary>
/// A metadata array. <see cref="Items"/> is a typed CLR array (float[], int[], string[], …) so large vocabularies
/// cost one allocation, not one box per element; nested arrays are <c>GgufArray[]</c>.
/// </summary>
public sealed record GgufArray(GgufValueType ElementType, Array Items)
{
    public int Count => Items.Length;

    public override string ToString() => $"[{ElementType} × {Count}]";
}
