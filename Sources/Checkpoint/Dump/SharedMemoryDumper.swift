import Foundation
import Ptrace

/// Saves each shared-memory object once, whichever processes map it. The
/// object is read through /proc/PID/map_files, which reaches pages that
/// no process has touched through its own mapping yet, and its holes are
/// skipped (SEEK_DATA), as are pages of zeros.
enum SharedMemoryDumper {
    /// The objects saved, and the bytes read and written for them.
    static func dump(_ processes: [ProcessImage], image: ImageDirectory, codec: Codec, workers: Int,
                     progress: Progress) throws -> (objects: [SharedMemoryImage], bytesRead: UInt64, bytesWritten: UInt64) {
        var done: Set<UInt64> = []
        var result: [SharedMemoryImage] = []
        var bytesRead: UInt64 = 0
        var bytesWritten: UInt64 = 0
        func save(_ id: UInt64, through path: String, name: String, pid: Int32) throws {
            guard !done.contains(id) else { return }
            done.insert(id)
            let fd = try LocalFile.open(path, flags: O_RDONLY, pid: pid)
            defer { close(fd) }
            let size = try LocalFile.size(fd)
            let file = "shmem-\(id).img"
            let writer = try image.pageWriter(name: file, codec: codec)
            let runs = self.runs(of: fd, size: size)
            bytesRead += try read(runs, from: fd, size: size, pid: pid, writer: writer, workers: workers, progress: progress)
            bytesWritten += try writer.finish().fileSize
            var object = SharedMemoryImage(id: id, size: size, name: name, pagesFile: file)
            object.hugePageSize = HugePages.pageSize(ofFile: fd)
            if object.isMemfd {
                let seals = fcntl(fd, sealsGet)
                if seals < 0 { throw SystemError("F_GET_SEALS of \(name) held by pid \(pid)", pid: pid) }
                object.seals = seals
            }
            result.append(object)
        }
        for p in processes {
            for vma in p.vmas {
                guard let id = vma.sharedMemory else { continue }
                let path = "/proc/\(p.pid)/map_files/\(String(vma.start, radix: 16))-\(String(vma.end, radix: 16))"
                try save(id, through: path, name: vma.path ?? "", pid: p.pid)
            }
            for f in p.files {
                guard let id = f.memfd?.object else { continue }
                try save(id, through: "/proc/\(p.pid)/fd/\(f.fd)", name: f.path, pid: p.pid)
            }
        }
        return (result, bytesRead, bytesWritten)
    }

    static let sealsGet: Int32 = 1034, sealsAdd: Int32 = 1033
    static let sealSeal: Int32 = 1

    /// Page-aligned runs of at most 2 MiB covering the object's data.
    static func runs(of fd: Int32, size: UInt64) -> [Range<UInt64>] {
        let maxRun = UInt64(MemoryDumper.maxPagesPerItem * 4096)
        let pageEnd = (size + 4095) & ~4095
        var result: [Range<UInt64>] = []
        for segment in LocalFile.dataSegments(fd, size: size) {
            var offset = segment.lowerBound & ~4095
            let end = min((segment.upperBound + 4095) & ~4095, pageEnd)
            while offset < end {
                let next = min(offset + maxRun, end)
                result.append(offset..<next)
                offset = next
            }
        }
        return result
    }

    /// Reads the runs on `workers` threads (pread is safe to share), drops
    /// zero pages and appends the chunks.
    static func read(_ runs: [Range<UInt64>], from fd: Int32, size: UInt64, pid: Int32, writer: PageStreamWriter,
                     workers: Int, progress: Progress) throws -> UInt64 {
        // Most objects are small: a buffer their size, and no more threads
        // than runs (a tree may share thousands of one-page objects).
        guard let largest = runs.map({ Int($0.upperBound - $0.lowerBound) }).max() else { return 0 }
        let lock = Lock()
        var total: UInt64 = 0
        try ParallelWork.run(count: runs.count, workers: workers) {
            var buffer = [UInt8](repeating: 0, count: largest)
            return { i in
                let run = runs[i]
                let count = Int(run.upperBound - run.lowerBound)
                let inFile = Int(min(UInt64(count), size - run.lowerBound))
                try LocalFile.read(fd, into: &buffer, count: inFile, at: run.lowerBound)
                for k in inFile..<count { buffer[k] = 0 }
                let chunk = ZeroPages.dropped(pid: pid, base: run.lowerBound, pages: count / 4096, buffer: buffer)
                if !chunk.ranges.isEmpty { try writer.append(chunk) }
                lock.withLock { total += UInt64(count) }
                progress.add(UInt64(count))
            }
        }
        return total
    }
}

/// Makes each saved shared-memory object again as a memfd in crtool,
/// filled from its page file, ready to be mapped into every process.
enum SharedMemoryRestorer {
    /// Seals the memfds as they were, once every process has mapped them
    /// and opened its descriptors (a write seal forbids writable shared
    /// mappings made after it). A seal the kernel refuses is a warning.
    static func seal(_ objects: [SharedMemoryImage], memfds: [UInt64: Int32]) -> [String] {
        var warnings: [String] = []
        for object in objects {
            guard let seals = object.seals, seals != 0, let fd = memfds[object.id] else { continue }
            // F_SEAL_SEAL last: it forbids adding the others.
            for step in [seals & ~SharedMemoryDumper.sealSeal, seals & SharedMemoryDumper.sealSeal] where step != 0 {
                if fcntl(fd, SharedMemoryDumper.sealsAdd, step) != 0 {
                    warnings.append("\(object.name) could not be sealed again with \(String(step, radix: 16)): \(ErrnoNames.name(errno))")
                }
            }
        }
        return warnings
    }

    static func load(_ objects: [SharedMemoryImage], image: ImageDirectory, registry: OpenFileRegistry) throws -> [UInt64: Int32] {
        do {
            return try make(objects, image: image, registry: registry)
        } catch let error where (error as? SystemError)?.errno == EMFILE || (error as? ImageIOError)?.errno == EMFILE {
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            throw CheckpointError("the image holds \(objects.count) shared-memory objects, which crtool keeps open at once until every process has mapped them, and its limit of open files is \(limit.rlim_cur) (ulimit -n; raising the hard limit needs CAP_SYS_RESOURCE): \(error)")
        }
    }

    private static func make(_ objects: [SharedMemoryImage], image: ImageDirectory, registry: OpenFileRegistry) throws -> [UInt64: Int32] {
        var result: [UInt64: Int32] = [:]
        for object in objects {
            // Shared anonymous memory is made as such, so maps names it as
            // before; memfds and files deleted while mapped as memfds.
            let fd = object.isSharedAnonymous
                ? try LocalFile.sharedAnonymous(size: object.size, hugePageSize: object.hugePageSize)
                : try LocalFile.memfd(name: object.memfdName, size: object.size, allowSealing: object.seals != nil, hugePageSize: object.hugePageSize)
            registry.keep(fd)
            result[object.id] = fd
            // The hugetlb pool's files take stores through a mapping only.
            let mapping = object.hugePageSize == nil || object.size == 0 ? nil
                : try WritableMapping(fd: fd, size: Int(object.size), what: object.name)
            let reader = try image.pageReader(name: object.pagesFile)
            for location in reader.chunkLocations() {
                let chunk = try reader.readChunk(location)
                try chunk.requireWithin(size: object.size, file: object.pagesFile, object: "object")
                var offset = 0
                for range in chunk.ranges {
                    let count = Int(min(UInt64(range.byteCount), object.size - range.address))
                    if let mapping {
                        try mapping.write(chunk.data, range: offset..<(offset + count), at: range.address)
                    } else {
                        try LocalFile.write(fd, chunk.data, range: offset..<(offset + count), at: range.address)
                    }
                    offset += range.byteCount
                }
            }
        }
        return result
    }
}
