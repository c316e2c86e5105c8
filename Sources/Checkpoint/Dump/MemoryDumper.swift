import Dispatch
import Codecs
import Foundation
import Ptrace

/// Copies a frozen process's memory into the page file: only pages that
/// exist (pagemap), only the ones that are the process's own (anonymous,
/// or copied-on-write from a file), never the all-zero ones, in runs of up
/// to 2 MiB read, compressed and checksummed on every core at once.
final class MemoryDumper {
    struct WorkItem {
        var vma: Int
        var address: UInt64
        var pages: Int
        /// Anonymous memory reads back as zeros where nothing is stored;
        /// a copied-on-write file page does not, so its zeros must be kept.
        var skipZeroPages: Bool
    }

    struct Result {
        var pagesStored: [UInt64]
        var bytesRead: UInt64 = 0
        var zeroPages: UInt64 = 0
        var summary: PageStreamSummary?
    }

    static let maxPagesPerItem = 512

    let pid: Int32
    let memory: RemoteMemory

    init(pid: Int32, memory: RemoteMemory) {
        self.pid = pid
        self.memory = memory
    }

    /// Decides which pages of which VMAs are saved: not those in
    /// `skipping` (normalized), unwritten since the parent image.
    func plan(vmas: [VMAImage], details: [UInt64: SmapsDetail], skipping inherited: [PageRange] = []) throws -> [WorkItem] {
        let pagemap = try Pagemap(pid: pid)
        var items: [WorkItem] = []
        var nextInherited = 0
        func isInherited(_ address: UInt64) -> Bool {
            while nextInherited < inherited.count, (inherited[nextInherited].endAddress ?? .max) <= address { nextInherited += 1 }
            return nextInherited < inherited.count && inherited[nextInherited].address <= address
        }
        for (index, vma) in vmas.enumerated() where !(vma.kind == .sharedAnonymous && vma.sharedMemory != nil) && vma.sysvShm == nil {
            let anonymous: Bool
            switch vma.kind {
            case .anonymous, .sharedAnonymous: anonymous = true
            case .privateFile: anonymous = false
            default: continue
            }
            // Huge pages of the hugetlb pool are not counted in Rss.
            let detail = details[vma.start]
            if let d = detail, d.residentKiB == 0, d.swapKiB == 0, vma.hugePageSize == nil { continue }
            let whole = vma.hugePageSize == nil && detail.map { Self.holdsEveryPage(vma, $0, anonymous: anonymous) } == true
            let total = Int(vma.size / 4096)
            var runStart: Int?
            func closeRun(_ end: Int) {
                guard let s = runStart else { return }
                var p = s
                while p < end {
                    let n = min(MemoryDumper.maxPagesPerItem, end - p)
                    items.append(WorkItem(vma: index, address: vma.start + UInt64(p) * 4096, pages: n, skipZeroPages: anonymous))
                    p += n
                }
                runStart = nil
            }
            var base = 0
            while base < total {
                let window = min(65536, total - base)
                let entries = whole ? nil : try pagemap.entries(at: vma.start + UInt64(base) * 4096, count: window)
                for i in 0..<window {
                    if !inherited.isEmpty && isInherited(vma.start + UInt64(base + i) * 4096) {
                        closeRun(base + i)
                        continue
                    }
                    if entries.map({ Self.wanted($0[i], anonymous: anonymous) }) ?? true {
                        if runStart == nil { runStart = base + i }
                    } else {
                        closeRun(base + i)
                    }
                }
                base += window
            }
            closeRun(total)
        }
        return items
    }

    /// Whether every page of `vma` is one the dump saves, as smaps counts
    /// them: then its pagemap need not be read, which for a large heap
    /// is a walk of its page tables while the process is frozen. Rss
    /// leaves out the shared zero page, so a page only read is not taken
    /// for one written; in a private file mapping only the anonymous
    /// pages, those copied on write, are the process's own.
    static func holdsEveryPage(_ vma: VMAImage, _ detail: SmapsDetail, anonymous: Bool) -> Bool {
        let own = anonymous ? detail.residentKiB : detail.anonymousKiB
        return own + detail.swapKiB == vma.size / 1024
    }

    /// Whether the page of pagemap `entry` is saved: any that exists in
    /// anonymous memory; in a private file mapping one swapped or copied
    /// on write, not one still the file's.
    static func wanted(_ entry: UInt64, anonymous: Bool) -> Bool {
        let present = entry & Pagemap.present != 0
        let swapped = entry & Pagemap.swapped != 0
        return anonymous ? present || swapped : swapped || (present && entry & Pagemap.fileOrSharedAnon == 0)
    }

    /// Below this much memory a process's pages go to one file: striping
    /// pays only when the copies into the page cache take long enough to
    /// queue behind each other.
    static let stripingThreshold: UInt64 = 64 << 20

    /// How many files a process's page stream is striped over: one per
    /// worker for a large process, so the workers' writes do not wait for
    /// each other on the file's lock, and one for everything else.
    static func pageFileParts(bytes: UInt64, workers: Int) -> Int {
        bytes >= stripingThreshold ? max(1, workers) : 1
    }

    /// Bytes the items read.
    static func bytes(of items: [WorkItem]) -> UInt64 {
        items.reduce(UInt64(0)) { $0 + UInt64($1.pages) * 4096 }
    }

    /// One process's share of a memory dump.
    struct Job {
        var dumper: MemoryDumper
        var items: [WorkItem]
        var vmaCount: Int
        var writer: PageStreamWriter

        /// The job of the process at `pid`: its plan (the pages in
        /// `skipping` left out) and a page file `name` in `image`, striped
        /// when the plan is large.
        static func planned(pid: Int32, memory: RemoteMemory, vmas: [VMAImage], details: [UInt64: SmapsDetail],
                            skipping: [PageRange], image: ImageDirectory, name: String, codec: Codec, workers: Int) throws -> Job {
            let dumper = MemoryDumper(pid: pid, memory: memory)
            let items = try dumper.plan(vmas: vmas, details: details, skipping: skipping)
            let bytes = MemoryDumper.bytes(of: items)
            let parts = MemoryDumper.pageFileParts(bytes: bytes, workers: workers)
            return Job(dumper: dumper, items: items, vmaCount: vmas.count,
                       writer: try image.pageWriter(name: name, codec: codec, parts: parts))
        }
    }

    /// Bytes the jobs' plans read.
    static func plannedBytes(_ jobs: [Job]) -> UInt64 {
        jobs.reduce(UInt64(0)) { $0 + bytes(of: $1.items) }
    }

    /// Whether the chunks of a dump that lets its tree go before writing
    /// are worth holding in memory to compress after: they are to be
    /// compressed and fit.
    static func holdsChunks(planned: UInt64, codec: Codec) -> Bool {
        codec.kind != .none && planned <= heldBytesLimit()
    }

    /// The most page data a dump holds in memory to write after the tree
    /// is let go: a quarter of what the machine has available, at most
    /// 1 GiB.
    static func heldBytesLimit() -> UInt64 {
        let available = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("MemAvailable:") }
            .flatMap { UInt64($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        return min(available * 1024 / 4, 1 << 30)
    }

    /// Reads, filters and writes the items of every job on `workers`
    /// threads at once: a tree's processes are read in parallel, not one
    /// after another. With `holdingChunks` the chunks worth compressing
    /// are kept in memory instead of written and returned, per job, for
    /// `write` once the tree is let go: reading is all a tree that survives
    /// the dump must stay frozen for. A chunk that would be stored raw is
    /// written at once (a copy into the page cache costs what a copy into
    /// memory kept for later would).
    static func run(_ jobs: [Job], workers: Int, progress: Progress, holdingChunks: Bool = false) throws -> (results: [Result], held: [[PageChunk]]) {
        let lock = Lock()
        let work = jobs.indices.flatMap { j in jobs[j].items.indices.map { (j, $0) } }
        var results = jobs.map { Result(pagesStored: [UInt64](repeating: 0, count: $0.vmaCount)) }
        var held = [[PageChunk]](repeating: [], count: jobs.count)
        try ParallelWork.run(count: work.count, workers: workers) {
            // Chunks that may be held get arrays of their own (never a copy
            // of a buffer a held chunk still shares): no buffer then.
            var buffer = holdingChunks ? [] : [UInt8](repeating: 0, count: MemoryDumper.maxPagesPerItem * 4096)
            return { i in
                try Interrupted.check(Interrupted.dumpGivenUp)
                let (j, k) = work[i]
                let job = jobs[j]
                let item = job.items[k]
                let bytes = item.pages * 4096
                // A whole-size item is read into the worker's buffer,
                // which the chunk then shares instead of copying; the
                // chunk is gone by the next read, so that read finds
                // the buffer unshared and reuses it in place.
                let pages: [UInt8]
                if bytes == buffer.count {
                    try job.dumper.memory.read(into: &buffer, offset: 0, at: item.address, count: bytes)
                    pages = buffer
                } else {
                    pages = try job.dumper.memory.read(at: item.address, count: bytes)
                }
                let chunk = job.dumper.makeChunk(item: item, pages: pages)
                let hold = try holdingChunks && worthCompressing(chunk.data, codec: job.writer.codec)
                if !chunk.ranges.isEmpty && !hold { try job.writer.append(chunk) }
                let stored = chunk.pageCount
                lock.withLock {
                    if hold { held[j].append(chunk) }
                    results[j].pagesStored[item.vma] += stored
                    results[j].bytesRead += UInt64(bytes)
                    results[j].zeroPages += UInt64(item.pages) - stored
                }
                progress.add(UInt64(bytes))
            }
        }
        return (results, held)
    }

    /// Compresses and writes chunks `run` held, each to its job's page
    /// file, on `workers` threads. The tree runs on meanwhile, and this is
    /// the long part of such a dump, so it has a progress line of its own
    /// (labelled `label`).
    static func write(_ held: [[PageChunk]], jobs: [Job], workers: Int, label: String, quiet: Bool) throws {
        let work = held.indices.flatMap { j in held[j].indices.map { (j, $0) } }
        let total = held.joined().reduce(UInt64(0)) { $0 + UInt64($1.data.count) }
        let progress = Progress(label: label, total: total, quiet: quiet)
        defer { progress.finish() }
        try ParallelWork.run(count: work.count, workers: workers) {
            { i in
                try Interrupted.check(Interrupted.dumpGivenUp)
                let chunk = held[work[i].0][work[i].1]
                try jobs[work[i].0].writer.append(chunk)
                progress.add(UInt64(chunk.data.count))
            }
        }
    }

    /// `pages` holds exactly the item's pages.
    func makeChunk(item: WorkItem, pages: [UInt8]) -> PageChunk {
        guard item.skipZeroPages else {
            return PageChunk(pid: pid, ranges: [PageRange(address: item.address, pageCount: UInt32(item.pages))], data: pages)
        }
        return ZeroPages.dropped(pid: pid, base: item.address, pages: item.pages, buffer: pages)
    }
}

/// Zero pages are never stored: anonymous memory and fresh memfds read
/// back as zeros where nothing was written.
enum ZeroPages {
    /// A chunk of the non-zero pages among the first `pages` of `buffer`,
    /// which starts at `base`.
    static func dropped(pid: Int32, base: UInt64, pages: Int, buffer: [UInt8]) -> PageChunk {
        var zero = [Bool](repeating: false, count: pages)
        var zeroCount = 0
        for p in 0..<pages where PageContent.isZero(buffer, page: p) {
            zero[p] = true
            zeroCount += 1
        }
        if zeroCount == 0 {
            let data = buffer.count == pages * 4096 ? buffer : Array(buffer[0..<(pages * 4096)])
            return PageChunk(pid: pid, ranges: [PageRange(address: base, pageCount: UInt32(pages))], data: data)
        }
        var ranges: [PageRange] = []
        var data: [UInt8] = []
        data.reserveCapacity((pages - zeroCount) * 4096)
        var runStart: Int?
        for p in 0...pages {
            let keep = p < pages && !zero[p]
            if keep, runStart == nil { runStart = p }
            if !keep, let s = runStart {
                ranges.append(PageRange(address: base + UInt64(s) * 4096, pageCount: UInt32(p - s)))
                data.append(contentsOf: buffer[(s * 4096)..<(p * 4096)])
                runStart = nil
            }
        }
        return PageChunk(pid: pid, ranges: ranges, data: data)
    }
}
