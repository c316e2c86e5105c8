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
        let writable = vmas.filter { $0.pagesStored > 0 }.sorted { $0.start < $1.start }
        for location in reader.chunkLocations() {
            let file = reader.fileName(of: location)
            let header = location.header
            guard header.pid == pid else {
                throw ImageError(file: file, chunk: location.index, field: "pid",
                                 reason: "chunk belongs to pid \(header.pid), not \(pid)")
            }
            for range in header.ranges {
                let end = range.address + UInt64(range.pageCount) * UInt64(PageRange.pageSize)
                let vma = writable.partitioningIndex { $0.end > range.address }
                guard vma < writable.count, writable[vma].start <= range.address, end <= writable[vma].end else {
                    throw ImageError(file: file, chunk: location.index, field: "ranges",
                                     reason: "pages at 0x\(String(range.address, radix: 16)) lie outside every VMA that stores pages")
                }
            }
        }
    }
}
