using System.Buffers.Binary;
using System.Text;

namespace MoeSpeq.Formats.Tests.Gguf;

/// <summary>
/// Where each field of a valid GGUF file sits, found by a walk written independently of the reader. Tests patch
/// fields by offset, and the fuzzer aims its huge and boundary values at the 64-bit counts and lengths.
/// </summary>
sealed class GgufLayout
{
    public sealed record TensorFields(int NameAt, int NDimsAt, int[] DimAt, int TypeAt, int OffsetAt);

    /// <summary>Offsets of every 64-bit count, length, dimension and tensor offset in the header.</summary>
    public List<int> SizeFields { get; } = [];
    /// <summary>Offset of each metadata key's length prefix.</summary>
    public Dictionary<string, int> KeyAt { get; } = [];
    /// <summary>Offset of each metadata value (just after its type tag).</summary>
    public Dictionary<string, int> ValueAt { get; } = [];
    public Dictionary<string, TensorFields> Tensors { get; } = [];
    public int TensorInfosAt { get; private set; }
    public int HeaderEnd { get; private set; }

    public static GgufLayout Of(byte[] file)
    {
        var layout = new GgufLayout();
        layout.SizeFields.Add(8);
        long tensorCount = (long)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(8));
        layout.SizeFields.Add(16);
        long kvCount = (long)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(16));
        int p = 24;
        for (long i = 0; i < kvCount; i++)
        {
            int keyAt = p;
            string key = layout.String(file, ref p);
            uint type = U32(file, ref p);
            layout.KeyAt[key] = keyAt;
            layout.ValueAt[key] = p;
            layout.SkipValue(file, ref p, type);
        }
        layout.TensorInfosAt = p;
        for (long i = 0; i < tensorCount; i++)
        {
            int nameAt = p;
            string name = layout.String(file, ref p);
            int nDimsAt = p;
            uint nDims = U32(file, ref p);
            var dimAt = new int[nDims];
            for (int d = 0; d < nDims; d++)
            {
                dimAt[d] = p;
                layout.SizeFields.Add(p);
                p += 8;
            }
            int typeAt = p;
            p += 4;
            layout.SizeFields.Add(p);
            layout.Tensors[name] = new TensorFields(nameAt, nDimsAt, dimAt, typeAt, p);
            p += 8;
        }
        layout.HeaderEnd = p;
        return layout;
    }

    string String(byte[] file, ref int p)
    {
        SizeFields.Add(p);
        int n = (int)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(p));
        string s = Encoding.UTF8.GetString(file, p + 8, n);
        p += 8 + n;
        return s;
    }

    static uint U32(byte[] file, ref int p)
    {
        uint v = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(p));
        p += 4;
        return v;
    }

    void SkipValue(byte[] file, ref int p, uint type)
    {
        switch (type)
        {
            case 0 or 1 or 7: p += 1; break;
            case 2 or 3: p += 2; break;
            case 4 or 5 or 6: p += 4; break;
            case 10 or 11 or 12: p += 8; break;
            case 8: String(file, ref p); break;
            case 9:
                uint elementType = U32(file, ref p);
                SizeFields.Add(p);
                long count = (long)BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(p));
                p += 8;
                for (long i = 0; i < count; i++) SkipValue(file, ref p, elementType);
                break;
            default: throw new InvalidOperationException($"value type {type} in a test seed");
        }
    }
}
