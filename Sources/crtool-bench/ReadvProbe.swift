import Glibc
import Ptrace

/// The speed of process_vm_readv on this machine: the ceiling of a dump,
/// which reads every page it saves this way. One thread reads the
/// fixture's heap (its largest private anonymous rw mapping) in 2 MiB runs
/// into one 2 MiB buffer, as each dump worker does.
enum ReadvProbe {
    static let runBytes = 2 << 20

    struct Result {
        var mibPerSecond: Double
        var heapBytes: UInt64
    }

    /// Best MiB/s of `passes` reads of the whole heap. The fixture is
    /// stopped meanwhile so its own work does not compete for the cores,
    /// and is running again (a new tick seen) when this returns.
    static func measure(_ fixture: CounterFixture, passes: Int = 3) throws -> Result {
        let heap = try largestHeap(of: fixture.pid)
        guard kill(fixture.pid, SIGSTOP) == 0 else { throw BenchError.system("kill(\(fixture.pid), SIGSTOP)") }
        var best = 0.0
        do {
            let memory = RemoteMemory(pid: fixture.pid)
            var buffer = [UInt8](repeating: 0, count: runBytes)
            for _ in 0..<passes {
                let watch = Stopwatch()
                var address = heap.start
                while address < heap.end {
                    let count = Int(min(UInt64(runBytes), heap.end - address))
                    try memory.read(into: &buffer, offset: 0, at: address, count: count)
                    address += UInt64(count)
                }
                best = max(best, Double(heap.size) / 1048576 / watch.seconds)
            }
        } catch {
            _ = kill(fixture.pid, SIGCONT)
            throw error
        }
        let mark = fixture.log.lines().count
        guard kill(fixture.pid, SIGCONT) == 0 else { throw BenchError.system("kill(\(fixture.pid), SIGCONT)") }
        try fixture.waitForTick(after: mark)
        return Result(mibPerSecond: best, heapBytes: heap.size)
    }

    private static func largestHeap(of pid: pid_t) throws -> MapEntry {
        let candidates = try Maps.read(pid: pid).filter { $0.read && $0.write && !$0.execute && !$0.shared && $0.path == nil }
        guard let heap = candidates.max(by: { $0.size < $1.size }) else {
            throw BenchError("pid \(pid) has no anonymous read-write mapping to read")
        }
        return heap
    }
}
