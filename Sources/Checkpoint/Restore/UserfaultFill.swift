import Glibc
import Ptrace

/// The anonymous VMAs of a process being restored that take their pages
/// through a userfaultfd (UFFDIO_COPY) rather than process_vm_writev: the
/// pages are allocated and filled in one step instead of being cleared
/// first and then overwritten, which is most of what writing into fresh
/// memory costs.
///
/// Everything else (copied-on-write pages of file mappings, shared memory)
/// and every kernel without userfaultfd keeps the process_vm_writev path.
final class UserfaultFill {
    private let userfault: RemoteUserfault
    /// Registered VMAs, sorted by start.
    private(set) var ranges: [Range<UInt64>] = []

    private init(userfault: RemoteUserfault) {
        self.userfault = userfault
    }

    /// Has the process open a userfaultfd, takes a copy of it and closes
    /// the process's own, then registers every anonymous private VMA that
    /// stores pages. nil when the kernel refuses any step before the first
    /// registration (no userfaultfd, or it is disabled): then every page
    /// goes the process_vm_writev way, correct and only slower.
    static func open(for vmas: [VMAImage], inj: RemoteSyscall, pid: Int32) -> UserfaultFill? {
        let wanted = vmas.filter { $0.kind == .anonymous && $0.pagesStored > 0 && $0.sharedMemory == nil && $0.sysvShm == nil }
        guard !wanted.isEmpty else { return nil }
        let userfault: RemoteUserfault
        do {
            let remote = try inj.call(Syscall.userfaultfd, UInt64(O_CLOEXEC | O_NONBLOCK))
            guard remote >= 0 else { return nil }
            let local = Result { try PidFD(pid: pid).duplicate(Int32(remote)) }
            _ = try? inj.call(Syscall.close, UInt64(remote))
            userfault = try RemoteUserfault(adopting: try local.get(), pid: pid)
        } catch {
            return nil
        }
        let fill = UserfaultFill(userfault: userfault)
        for vma in wanted.sorted(by: { $0.start < $1.start }) {
            // A VMA the kernel will not register is written the other way.
            if (try? userfault.registerMissing(vma.start..<vma.end)) != nil {
                fill.ranges.append(vma.start..<vma.end)
            }
        }
        return fill
    }

    /// Whether `[address, address + length)` lies inside one registered VMA.
    func covers(_ address: UInt64, length: Int) -> Bool {
        var low = 0, high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound <= address { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].lowerBound <= address && address + UInt64(length) <= ranges[low].upperBound
    }

    func copy(_ source: SourceBytes, range: Range<Int>, to address: UInt64) throws {
        try userfault.copy(source, range: range, to: address)
    }

    /// Unregisters every VMA, so that later faults in the process are
    /// ordinary ones; the descriptor closes when this object goes.
    func finish() throws {
        for range in ranges { try userfault.unregister(range) }
        ranges = []
    }
}
