namespace MoeSpeq.Cli;

/// <summary>
/// The process's resident memory as Linux reports it in /proc/self/status: VmRSS now, and VmHWM, its peak; null on
/// other systems. <see cref="ResetPeak"/> restarts the peak from the current RSS, so a command can report the peak of
/// its own work rather than of the runtime's start-up.
/// </summary>
public static class ProcessMemory
{
    public static long? Resident => Read("VmRSS:");
    public static long? Peak => Read("VmHWM:");

    /// <summary>Writes 5 to /proc/self/clear_refs (Linux 4.0+); false where that is not permitted, and the peak then counts from the start.</summary>
    public static bool ResetPeak()
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            using var f = new FileStream("/proc/self/clear_refs", FileMode.Open, FileAccess.Write);
            f.WriteByte((byte)'5');
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    static long? Read(string field)
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
            // "VmHWM:\t  123456 kB"
            var parts = line[field.Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        return null;
    }
}
