import Ptrace

/// Where transparent huge pages map a process's anonymous memory. A
/// restore that wrote those runs as small pages would leave a program that
/// asked for huge pages (a JVM heap, a database's buffers) with 512 times
/// as many TLB entries to fill, until khugepaged, a few MiB every ten
/// seconds, collapsed them again; the image records them so the restore
/// makes them huge at once.
enum TransparentHugePages {
    /// The one size of a page-middle-directory mapping on x86-64.
    static let size: UInt64 = 2 << 20

    /// Memory transparent huge pages can back: private anonymous memory
    /// that is not of the hugetlb pool.
    static func mayBack(_ v: VMAImage) -> Bool {
        v.kind == .anonymous && v.hugePageSize == nil && v.sharedMemory == nil
    }

    /// Records, in each private anonymous VMA that smaps shows with
    /// AnonHugePages, the runs its huge pages map (PAGEMAP_SCAN: one walk
    /// of that VMA's page tables). A kernel without PAGEMAP_SCAN records
    /// none, and the restore makes small pages there.
    static func find(in vmas: inout [VMAImage], details: [UInt64: SmapsDetail], pid: Int32) throws {
        let candidates = vmas.indices.filter { i in
            mayBack(vmas[i]) && (details[vmas[i].start]?.anonymousHugeKiB ?? 0) > 0
        }
        guard !candidates.isEmpty else { return }
        let pagemap = try Pagemap(pid: pid)
        for i in candidates {
            let runs = try pagemap.hugeRuns(in: vmas[i].start..<vmas[i].end)
                .filter { $0.lowerBound % size == 0 && $0.count % Int(size) == 0 }
            if !runs.isEmpty { vmas[i].transparentHugePages = runs.flatMap { PageRanges.runs($0) } }
        }
    }
}
