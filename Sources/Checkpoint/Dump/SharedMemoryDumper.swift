import Foundation
import Ptrace

/// Saves each shared-memory object once, whichever processes map it. The
/// object is read through /proc/PID/map_files, which reaches pages that
/// no process has touched through its own mapping yet, and its holes are
/// skipped (SEEK_DATA), as are pages of zeros.
enum SharedMemoryDumper {
    static func dump(_ processes: [ProcessImage], image: ImageDirectory, codec: Codec, progress: Progress) throws -> [SharedMemoryImage] {
        var done: Set<UInt64> = []
        var result: [SharedMemoryImage] = []
        for p in processes {
            for vma in p.vmas {
                guard let id = vma.sharedMemory, !done.contains(id) else { continue }
                done.insert(id)
                let path = "/proc/\(p.pid)/map_files/\(String(vma.start, radix: 16))-\(String(vma.end, radix: 16))"
                let fd = try LocalFile.open(path, flags: O_RDONLY, pid: p.pid)
                defer { close(fd) }
                let size = try LocalFile.size(fd)
                let name = "shmem-\(id).img"
                let writer = try image.pageWriter(name: name, codec: codec)
                let maxRun = UInt64(MemoryDumper.maxPagesPerItem * 4096)
                var buffer = [UInt8](repeating: 0, count: Int(maxRun))
                for segment in LocalFile.dataSegments(fd, size: size) {
                    var offset = segment.lowerBound & ~4095
                    while offset < segment.upperBound {
                        let count = Int(min(maxRun, ((segment.upperBound + 4095) & ~4095) - offset, ((size + 4095) & ~4095) - offset))
                        try LocalFile.read(fd, into: &buffer, count: min(count, Int(size - offset)), at: offset)
                        if count > Int(size - offset) {
                            for i in Int(size - offset)..<count { buffer[i] = 0 }
                        }
                        let chunk = ZeroPages.dropped(pid: p.pid, base: offset, pages: count / 4096, buffer: buffer)
                        if !chunk.ranges.isEmpty { try writer.append(chunk) }
                        progress.add(UInt64(count))
                        offset += UInt64(count)
                    }
                }
                _ = try writer.finish()
                result.append(SharedMemoryImage(id: id, size: size, name: vma.path ?? "", pagesFile: name))
            }
        }
        return result
    }
}

/// Makes each saved shared-memory object again as a memfd in crtool,
/// filled from its page file, ready to be mapped into every process.
enum SharedMemoryRestorer {
    static func load(_ objects: [SharedMemoryImage], image: ImageDirectory, registry: OpenFileRegistry) throws -> [UInt64: Int32] {
        var result: [UInt64: Int32] = [:]
        for object in objects {
            let fd = try LocalFile.memfd(name: object.memfdName, size: object.size)
            registry.keep(fd)
            result[object.id] = fd
            let reader = try image.pageReader(name: object.pagesFile)
            for location in reader.chunkLocations() {
                let chunk = try reader.readChunk(location)
                var offset = 0
                for range in chunk.ranges {
                    guard let end = range.endAddress, end <= (object.size + 4095) & ~4095 else {
                        throw ImageError(file: object.pagesFile, field: "ranges", reason: "pages at offset \(range.address) lie beyond the object's \(object.size) bytes")
                    }
                    let count = Int(min(UInt64(range.byteCount), object.size - range.address))
                    try LocalFile.write(fd, chunk.data, range: offset..<(offset + count), at: range.address)
                    offset += range.byteCount
                }
            }
        }
        return result
    }
}
