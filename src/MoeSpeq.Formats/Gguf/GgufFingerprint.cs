using System.Buffers.Binary;
using System.Security.Cryptography;

namespace MoeSpeq.Formats.Gguf;

/// <summary>
/// A cheap identity of a GGUF file, for a file derived from it to name the one it was made from: SHA-256 over the
/// file's length, its header (metadata and tensor table, which fix every tensor's name, shape, type and place) and
/// the first and last <see cref="SampleBytes"/> of tensor data (which tell apart, in the usual case, two files of
/// one shape and metadata such as two random-weight models of different seeds); for a model directory, the same
/// over each safetensors shard in turn. Hashing every byte of a 100 GB model at each load would take minutes; this
/// reads the headers and two small samples per file.
/// </summary>
public static unsafe class GgufFingerprint
{
    public const int SampleBytes = 64 << 10;

    /// <summary>64 lowercase hex digits.</summary>
    public static string Of(GgufFile file)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // Each file in turn (one for a GGUF file, so its identity is what it always was; every shard of a directory).
        for (int i = 0; i < file.Files.Count; i++) Append(hash, file.Files[i], file.DataOrigin(i));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    static void Append(IncrementalHash hash, MappedFile file, long headerBytes)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, file.Length);
        hash.AppendData(length);

        // The header is already paged in by the parse; its bytes are read through the mapping.
        for (long done = 0; done < headerBytes;)
        {
            int chunk = (int)Math.Min(headerBytes - done, 1 << 24);
            hash.AppendData(new ReadOnlySpan<byte>(file.BasePointer + done, chunk));
            done += chunk;
        }

        // The samples are read, not viewed: beside them in the mapping lie experts a slow tier keeps out of RSS.
        long dataBytes = Math.Max(0, file.Length - headerBytes);
        int sample = (int)Math.Min(SampleBytes, dataBytes);
        if (sample > 0)
        {
            var buffer = new byte[sample];
            using var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read, FileShare.Read);
            foreach (long offset in new[] { headerBytes, file.Length - sample })
            {
                for (int done = 0; done < sample;)
                {
                    int read = RandomAccess.Read(handle, buffer.AsSpan(done), offset + done);
                    if (read <= 0) throw new IOException($"{file.Path} ended at byte {offset + done} while its mapping says {file.Length}: was it changed while open?");
                    done += read;
                }
                hash.AppendData(buffer);
            }
        }
    }
}
