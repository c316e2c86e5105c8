import Glibc
import Ptrace

/// The anonymous VMAs of a process being restored that take their pages
/// through userfaultfds (UFFDIO_COPY) rather than process_vm_writev: the
/// pages are allocated and filled in one step instead of being cleared
/// first and then overwritten, which is most of what writing into fresh
/// memory costs.
///
/// There is one userfaultfd per address lane, registered on that lane's
/// part of the VMAs, so that workers in different lanes never share one.
///
/// Everything else (copied-on-write pages of file mappings, shared memory,
/// runs that were transparent huge pages) and every kernel without
/// userfaultfd keeps the process_vm_writev path.
final class UserfaultFill {
    private struct Piece {
        var range: Range<UInt64>
        var lane: Int
    }

    private let userfaults: [RemoteUserfault]
    /// Registered address ranges with their lane, sorted by start.
    private var registered: [Piece] = []

    private init(userfaults: [RemoteUserfault]) {
        self.userfaults = userfaults
    }

    /// Has the process open one userfaultfd per lane, takes a copy of each
    /// and closes the process's own, then registers every anonymous private
    /// VMA that stores pages, lane by lane. nil when the kernel refuses
    /// the first userfaultfd (none, or disabled): then every page goes the
    /// process_vm_writev way, correct and only slower. A later lane the
    /// kernel refuses shares the previous lane's userfaultfd.
    static func open(for vmas: [VMAImage], lanes: AddressLanes, inj: RemoteSyscall, pid: Int32) -> UserfaultFill? {
        // Huge pages take UFFDIO_COPY only whole: they are written the other way.
        let wanted = vmas.filter { $0.kind == .anonymous && $0.pagesStored > 0 && $0.sharedMemory == nil && $0.sysvShm == nil && $0.hugePageSize == nil }
        guard !wanted.isEmpty else { return nil }
        let userfaults = adopt(lanes.count, inj: inj, pid: pid)
        guard !userfaults.isEmpty else { return nil }
        let fill = UserfaultFill(userfaults: userfaults)
        for vma in wanted.sorted(by: { $0.start < $1.start }) {
            // UFFDIO_COPY makes small pages only: runs that were huge pages
            // are written the other way, which faults huge pages in.
            let small = PageRanges.subtracting(PageRanges.runs(vma.start..<vma.end), vma.transparentHugePages ?? [])
            for run in small {
                guard let end = run.endAddress else { continue }
                for piece in lanes.split(run.address..<end) {
                    let lane = min(piece.lane, userfaults.count - 1)
                    // A range the kernel will not register is written the other way.
                    if (try? userfaults[lane].registerMissing(piece.range)) != nil {
                        fill.registered.append(Piece(range: piece.range, lane: lane))
                    }
                }
            }
        }
        return fill
    }

    /// Up to `count` userfaultfds the process opens, of which crtool takes
    /// copies before the process closes its own: one trip into it to open
    /// them all, one to close them.
    private static func adopt(_ count: Int, inj: RemoteSyscall, pid: Int32) -> [RemoteUserfault] {
        // Faults from user space only: a process inside a user namespace
        // may open no other kind, and nothing of the restore faults on
        // these ranges from the kernel (a fault there would wait forever).
        let open = SyscallRequest(Syscall.userfaultfd, WriteTracker.creationFlags)
        guard let made = try? inj.callAll([SyscallRequest](repeating: open, count: count)) else { return [] }
        let remote = made.filter { $0 >= 0 }.map { Int32($0) }
        let handle = try? PidFD(pid: pid)
        let local = remote.map { fd in handle.flatMap { try? $0.duplicate(fd) } }
        if !remote.isEmpty { _ = try? inj.callAll(remote.map { SyscallRequest(Syscall.close, UInt64($0)) }) }
        return local.compactMap { fd in fd.flatMap { try? RemoteUserfault(adopting: $0, pid: pid) } }
    }

    /// Copies each piece of `source` (a source range and the address it
    /// goes to) through the userfaultfds of the registered pieces it lies
    /// in, lane by lane, and returns what lies outside them, as (range of
    /// source, address), for the caller to write another way. Nothing
    /// registered may be written any other way: a write through
    /// process_vm_writev there would wait forever for a fault handler.
    func place(_ source: SourceBytes, pieces: [SourcePiece]) throws -> [SourcePiece] {
        var rest: [SourcePiece] = []
        var copies = [[SourcePiece]](repeating: [], count: userfaults.count)
        for piece in pieces { split(piece.range, at: piece.address, copies: &copies, rest: &rest) }
        for lane in copies.indices where !copies[lane].isEmpty {
            try userfaults[lane].copy(source, pieces: copies[lane])
        }
        return rest
    }

    /// Sorts `source[range]`, bound for `address`, into the lanes of the
    /// registered pieces it lies in and the rest.
    private func split(_ range: Range<Int>, at address: UInt64, copies: inout [[SourcePiece]], rest: inout [SourcePiece]) {
        var cursor = address
        let end = address + UInt64(range.count)
        var index = firstPiece(endingAfter: cursor)
        while cursor < end {
            let piece = index < registered.count ? registered[index] : nil
            let next = min(end, piece.map { max(cursor, $0.range.lowerBound) } ?? end)
            if next > cursor {
                rest.append((sourceRange(cursor..<next, from: address, in: range), cursor))
                cursor = next
                continue
            }
            guard let piece else { break }
            let stop = min(end, piece.range.upperBound)
            copies[piece.lane].append((sourceRange(cursor..<stop, from: address, in: range), cursor))
            cursor = stop
            index += 1
        }
    }

    private func sourceRange(_ addresses: Range<UInt64>, from address: UInt64, in range: Range<Int>) -> Range<Int> {
        let start = range.lowerBound + Int(addresses.lowerBound - address)
        return start..<(start + addresses.count)
    }

    private func firstPiece(endingAfter address: UInt64) -> Int {
        registered.partitioningIndex { $0.range.upperBound > address }
    }

    /// Unregisters every piece, so that later faults in the process are
    /// ordinary ones and the kernel merges the VMAs registering split; the
    /// descriptors close when this object goes.
    func finish() throws {
        for piece in registered { try userfaults[piece.lane].unregister(piece.range) }
        registered = []
    }
}
