import Glibc
import Ptrace

/// Write tracking for images made on top of a pre-dump: which VMAs a
/// tracker follows, and which of their pages it found unwritten.
enum MemoryTracking {
    /// The VMAs whose pages a dump stores from the process itself (its
    /// anonymous memory and copied-on-write file pages). Shared memory is
    /// stored whole by every dump: its pages are written from more than
    /// one process.
    ///
    /// Only writable ones: registering a VMA can merge it with a neighbour
    /// the kernel had kept apart (a library's read-only data beside its
    /// relocated part), and a read-only VMA is not written anyway. One
    /// made writable later is not tracked and is read whole next time.
    static func trackable(_ vmas: [VMAImage]) -> [VMAImage] {
        vmas.filter {
            ($0.kind == .anonymous || $0.kind == .privateFile) && $0.prot & 2 != 0 // PROT_WRITE
                && $0.sharedMemory == nil && $0.sysvShm == nil && $0.hugePageSize == nil
        }
    }

    /// The pages of `vmas` present now and not written since `tracker`
    /// last protected them, normalized. Only VMAs the tracker has are
    /// asked (registering again with the tracker that has a VMA changes
    /// nothing; another userfaultfd's VMA refuses it): a VMA mapped since
    /// the last round, or another tracker's, counts as written whole.
    static func unwritten(by tracker: WriteTracker, vmas: [VMAImage]) throws -> [PageRange] {
        let pagemap = try Pagemap(pid: tracker.pid)
        var runs: [PageRange] = []
        for vma in trackable(vmas) where vma.flags.contains("uw") {
            let range = vma.start..<vma.end
            guard (try? tracker.register(range)) != nil else { continue }
            runs += try pagemap.unwritten(in: range).flatMap(PageRanges.runs)
        }
        return PageRanges.normalized(runs)
    }

    /// Protects every page of the trackable VMAs, registering those the
    /// tracker does not have yet (mapped since the last round). A VMA the
    /// kernel will not track, or that another tracker has (an image not
    /// made on that tracker's), is left out: every page of it counts as
    /// written next time, and the other tracker's round stays whole.
    /// Returns how many VMAs are tracked, and how many of those left out
    /// another tracker has.
    @discardableResult
    static func protect(_ tracker: WriteTracker, vmas: [VMAImage]) -> (tracked: Int, heldElsewhere: Int) {
        var result = (tracked: 0, heldElsewhere: 0)
        for vma in trackable(vmas) {
            do {
                try tracker.track(vma.start..<vma.end)
                result.tracked += 1
            } catch let e as SystemError where e.errno == EBUSY {
                result.heldElsewhere += 1
            } catch {}
        }
        return result
    }
}
