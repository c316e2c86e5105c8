import Ptrace

/// The check a restore makes, once the image's ids are free and before it
/// creates any process, that the hugetlb pool has the pages the image's
/// huge-page memory will reserve: on a host whose pool is smaller (or
/// has none of that size), the restore would fail at the first such
/// mapping, once the processes exist.
///
/// What it counts is what the restore will certainly reserve: private
/// anonymous huge-page memory (its whole size, at mmap, unless it was
/// mapped MAP_NORESERVE), every shared-memory object of the pool, and the
/// System V segments of the pool that the restore makes (each made whole
/// by crtool before the processes; a segment still in the namespace is
/// attached as it is, and holds its pages already).
/// Private mappings of pool files reserve too, but are not counted: a
/// check must never refuse a restore that would succeed.
enum HugePagePool {
    /// `makingSegments`: the image's System V segments this namespace
    /// lacks (`SysVIPCRestorer.missing`).
    static func requireEnough(_ plan: RestorePlan, makingSegments: [SysVSharedMemoryImage]) throws {
        var needed: [UInt64: UInt64] = [:]
        func reserve(_ size: UInt64, pageSize: UInt64?) {
            if let page = pageSize { needed[page, default: 0] += HugePages.pages(covering: size, pageSize: page) }
        }
        for p in plan.processes {
            for v in p.vmas where v.kind == .anonymous && v.sysvShm == nil && !v.flags.contains("nr") { reserve(v.size, pageSize: v.hugePageSize) }
        }
        for object in plan.sharedMemory { reserve(object.size, pageSize: object.hugePageSize) }
        for segment in makingSegments { reserve(segment.size, pageSize: segment.hugePageSize) }
        for (page, count) in needed.sorted(by: { $0.key < $1.key }) {
            let available = HugePages.available(pageSize: page)
            guard let available, UInt64(available) >= count else {
                throw CheckpointError("the image's huge-page memory " + HugePages.shortage(needing: count, pageSize: page, free: available))
            }
        }
    }
}
