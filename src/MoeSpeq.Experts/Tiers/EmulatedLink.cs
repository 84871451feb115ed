using System.Diagnostics;

namespace MoeSpeq.Experts.Tiers;

/// <summary>
/// A host-to-device link emulated on one time line, shared by every thread that transfers over it. A transfer of
/// n bytes occupies the link for n / <see cref="BandwidthGBps"/> after the transfers booked before it; its latency
/// is paid once per transfer and overlaps with the others, as on a pipelined bus:
/// <c>start = max(now, busy_until); busy_until = start + n/B; done = busy_until + latency</c>.
/// </summary>
public sealed class EmulatedLink
{
    /// <summary>Slower than any link worth emulating (100 KB/s), and slow enough to test cancellation with.</summary>
    public const double MinBandwidthGBps = 1e-4;
    /// <summary>Faster than any memory bus: a value above this is a typo, not a link.</summary>
    public const double MaxBandwidthGBps = 10_000;
    /// <summary>One second per transfer: beyond it nothing would ever be served.</summary>
    public const double MaxLatencyMicroseconds = 1_000_000;

    // A sleep lasts whole milliseconds and overshoots by tens of µs on an idle machine, so a wait sleeps while more
    // than 1.5 ms are left, waking about half a millisecond early, and spins the rest.
    static readonly long SleepAboveTicks = Stopwatch.Frequency * 3 / 2000;
    static readonly long EarlyWakeTicks = Stopwatch.Frequency / 2000;

    readonly double _ticksPerByte;
    readonly long _latencyTicks;
    long _busyUntil; // Stopwatch timestamp at which the last booked transfer leaves the link

    public EmulatedLink(double bandwidthGBps, double latencyMicroseconds)
    {
        if (!(bandwidthGBps >= MinBandwidthGBps) || bandwidthGBps > MaxBandwidthGBps)
            throw new ArgumentException($"--link-bandwidth {bandwidthGBps}: must be a number of GB/s in [{MinBandwidthGBps}, {MaxBandwidthGBps}]");
        if (!(latencyMicroseconds >= 0) || latencyMicroseconds > MaxLatencyMicroseconds)
            throw new ArgumentException($"--link-latency {latencyMicroseconds}: must be a number of µs in [0, {MaxLatencyMicroseconds}]");
        BandwidthGBps = bandwidthGBps;
        LatencyMicroseconds = latencyMicroseconds;
        _ticksPerByte = Stopwatch.Frequency / (bandwidthGBps * 1e9);
        _latencyTicks = (long)Math.Ceiling(latencyMicroseconds * 1e-6 * Stopwatch.Frequency);
    }

    public double BandwidthGBps { get; }
    public double LatencyMicroseconds { get; }

    /// <summary>
    /// Books a transfer of <paramref name="bytes"/> issued now; returns the Stopwatch timestamp at which it
    /// completes. A booking is never taken back: a cancelled transfer still held the link, as an aborted DMA would.
    /// </summary>
    public long Book(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long occupy = (long)Math.Ceiling(bytes * _ticksPerByte);
        long now = Stopwatch.GetTimestamp();
        while (true)
        {
            long busy = Volatile.Read(ref _busyUntil);
            long end = Math.Max(now, busy) + occupy;
            if (Interlocked.CompareExchange(ref _busyUntil, end, busy) == busy) return end + _latencyTicks;
        }
    }

    /// <summary>Returns at <paramref name="timestamp"/> (a Stopwatch timestamp) or just after: sleeps while far from it, spins near it.</summary>
    public static void WaitUntil(long timestamp, CancellationToken cancel)
    {
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            long left = timestamp - Stopwatch.GetTimestamp();
            if (left <= 0) return;
            if (left > SleepAboveTicks)
            {
                cancel.WaitHandle.WaitOne((int)Math.Min((left - EarlyWakeTicks) * 1000 / Stopwatch.Frequency, int.MaxValue)); // returns at once on cancellation
                continue;
            }
            // Yields between checks so a spinning I/O thread does not starve compute threads on a small machine.
            Thread.Yield();
        }
    }

    public override string ToString() => $"{BandwidthGBps:G4} GB/s, {LatencyMicroseconds:G4} µs";
}
