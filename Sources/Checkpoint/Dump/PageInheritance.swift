import Glibc
import Ptrace

/// What one process of an image made on top of another (a pre-dump, or a
/// dump that tracked writes) takes from it:
/// the pages its tracker found unwritten since, among those the parent
/// holds. Everything else is read again.
struct PageInheritance {
    /// Pages present and unwritten since the parent was made: the dump
    /// reads none of them. Each is as it was then: in the parent, or zero
    /// (the parent skipped it), or a page of the mapped file.
    var unwritten: [PageRange] = []
    /// What the image records of the process's pages on the parent: its
    /// start time, read while it was frozen, and the unwritten pages the
    /// parent holds, which the image takes from it. nil when the parent
    /// has nothing to give.
    var lineage: PageLineage?
    var inherited: [PageRange] { lineage?.inherited ?? [] }
    /// The parent's tracker, which goes on tracking for the next image.
    var parentTracker: OutsideHolder?
    /// Why nothing could be taken from the parent although it has the
    /// process, for the summary.
    var lost: String?

    /// The parent's tracker, taken over from its keeper: it scans this
    /// round and protects the next.
    var tracker: WriteTracker?

    /// `started` is the process's start time, read while it was frozen.
    static func find(pid: Int32, startTime started: UInt64, vmas: [VMAImage], chain: ImageChain?) throws -> PageInheritance {
        guard let chain else { return PageInheritance() }
        guard let lineage = try chain.parentLineage(pid: pid, startTime: started) else { return PageInheritance() }
        guard let holder = lineage.tracker, TakenBack.isRunning(holder) else {
            return PageInheritance(lost: "pid \(pid): the parent image's write tracking ended (its crtool-keeper is gone, or a later image on it took the tracking over), so every page was read again")
        }
        let tracker = try takeOver(holder, pid: pid)
        let unwritten = try MemoryTracking.unwritten(by: tracker, vmas: vmas)
        let held = try chain.pagesHeld(pid: pid, lineage: lineage)
        return PageInheritance(unwritten: unwritten,
                               lineage: PageLineage(pid: pid, startTime: started, inherited: PageRanges.intersection(unwritten, held)),
                               parentTracker: holder, tracker: tracker)
    }

    /// The same with no page taken from the parent: every page is read,
    /// and only the tracker is taken over.
    func takingNoPages() -> PageInheritance {
        var copy = self
        copy.unwritten = []
        copy.lineage = lineage.map { PageLineage(pid: $0.pid, startTime: $0.startTime) }
        return copy
    }

    /// How many inherited pages lie in each of `vmas`, in one sweep of
    /// both (a run may span VMAs that touch).
    func pagesPerVMA(_ vmas: [VMAImage]) -> [UInt64] {
        var counts = [UInt64](repeating: 0, count: vmas.count)
        let order = vmas.indices.sorted { vmas[$0].start < vmas[$1].start }
        var first = 0
        for run in inherited {
            let end = run.endAddress ?? .max
            while first < order.count && vmas[order[first]].end <= run.address { first += 1 }
            var j = first
            while j < order.count && vmas[order[j]].start < end {
                let vma = vmas[order[j]]
                let (s, e) = (max(run.address, vma.start), min(end, vma.end))
                if s < e { counts[order[j]] += (e - s) / UInt64(PageRange.pageSize) }
                j += 1
            }
        }
        return counts
    }

    /// A copy of the tracker's userfaultfd, taken from the keeper that
    /// holds it.
    private static func takeOver(_ holder: OutsideHolder, pid: Int32) throws -> WriteTracker {
        let fd = try PidFD(pid: holder.pid).duplicate(holder.fd)
        guard (try? ProcFile.link("/proc/self/fd/\(fd)", pid: getpid())) == "anon_inode:[userfaultfd]" else {
            close(fd)
            throw CheckpointError("crtool-keeper pid \(holder.pid) fd \(holder.fd), the write tracker of pid \(pid), is not a userfaultfd")
        }
        return WriteTracker(takingOver: fd, pid: pid)
    }
}
