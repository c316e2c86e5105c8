/// Every run of pages in a process's page file must be that process's and
/// lie inside one of its VMAs that stores pages. The chunk headers alone
/// tell, so a crafted image whose checksums agree but whose pages point
/// elsewhere is refused while the image is checked, before any process
/// exists, instead of half way through writing one.
enum PageLayoutCheck {
    static func check(_ reader: PageStreamReader, of process: ProcessImage) throws {
        try check(reader, pid: process.pid, vmas: process.vmas)
    }

    static func check(_ reader: PageStreamReader, pid: Int32, vmas: [VMAImage]) throws {
        let writable = storing(vmas)
        for location in reader.chunkLocations() {
            let file = reader.fileName(of: location)
            let header = location.header
            guard header.pid == pid else {
                throw ImageError(file: file, chunk: location.index, field: "pid",
                                 reason: "chunk belongs to pid \(header.pid), not \(pid)")
            }
            if let outside = firstOutside(header.ranges, writable) {
                throw ImageError(file: file, chunk: location.index, field: "ranges",
                                 reason: "pages at 0x\(String(outside.address, radix: 16)) lie outside every VMA that stores pages")
            }
        }
    }

    /// The same for the pages a lineage takes from the parent images,
    /// which must besides not be in the process's own page file: one page
    /// is placed once.
    static func check(_ lineage: PageLineage, file: String, reader: PageStreamReader, vmas: [VMAImage]) throws {
        if let bad = lineage.inherited.first(where: { $0.address % UInt64(PageRange.pageSize) != 0 || $0.endAddress == nil }) {
            throw ImageError(file: file, field: "inherited",
                             reason: "the run at 0x\(String(bad.address, radix: 16)) of \(bad.pageCount) pages is not whole pages of the address space")
        }
        // A run may go on across VMAs that touch.
        let covered = PageRanges.normalized(storing(vmas).flatMap { PageRanges.runs($0.start..<$0.end) })
        if let outside = PageRanges.subtracting(PageRanges.normalized(lineage.inherited), covered).first {
            throw ImageError(file: file, field: "inherited",
                             reason: "pages at 0x\(String(outside.address, radix: 16)) lie outside every VMA that stores pages")
        }
        if let both = PageRanges.intersection(PageRanges.normalized(lineage.inherited), reader.storedPages).first {
            throw ImageError(file: file, field: "inherited",
                             reason: "the page at 0x\(String(both.address, radix: 16)) is in \(reader.name) too")
        }
    }

    private static func storing(_ vmas: [VMAImage]) -> [VMAImage] {
        vmas.filter { $0.pagesStored > 0 }.sorted { $0.start < $1.start }
    }

    private static func firstOutside(_ ranges: [PageRange], _ writable: [VMAImage]) -> PageRange? {
        ranges.first { range in
            let end = range.address + UInt64(range.pageCount) * UInt64(PageRange.pageSize)
            let vma = writable.partitioningIndex { $0.end > range.address }
            return !(vma < writable.count && writable[vma].start <= range.address && end <= writable[vma].end)
        }
    }
}
