namespace MoeSpeq.Inference.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ character table: printable Latin-1 bytes stand for themselves, the other 68 bytes
/// are shifted to U+0100…U+0143, so that every byte string becomes a string of visible characters that BPE merges
/// can be written in (a space is 'Ġ', a newline 'Ċ'). Every mapped character is in the BMP: one UTF-16 unit each.
/// </summary>
static class ByteUnicode
{
    static readonly char[] ByteToChar = BuildByteToChar();
    static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    /// <summary>The byte a mapped character stands for; false for characters outside the table.</summary>
    public static bool TryDecode(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        foreach (var (lo, hi) in new[] { (0x21, 0x7E), (0xA1, 0xAC), (0xAE, 0xFF) })
            for (int b = lo; b <= hi; b++) { map[b] = (char)b; assigned[b] = true; }
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (!assigned[b]) map[b] = (char)(256 + n++);
        return map;
    }

    static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[ByteToChar[b]] = (byte)b;
        return d;
    }
}
