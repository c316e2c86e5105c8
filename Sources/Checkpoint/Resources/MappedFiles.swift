import Glibc
import Ptrace

/// The files a process maps by path: what each was at the dump, and the
/// check a restore makes before it creates any process that the file at
/// each path is still that one (`MappedFileImage` says why).
enum MappedFiles {
    /// Each regular file `vmas` map by path, once. It is read through
    /// /proc/PID/map_files, which leads to the file actually mapped (the
    /// path might name another by now), or by its path where that cannot
    /// be opened; a file neither way reaches is left unchecked.
    static func identities(of vmas: [VMAImage], pid: Int32) -> [MappedFileImage] {
        var index: [String: Int] = [:]
        var files: [MappedFileImage] = []
        for v in vmas where (v.kind == .privateFile || v.kind == .sharedFile) && v.sharedMemory == nil && v.sysvShm == nil {
            guard let path = v.path, path.hasPrefix("/") else { continue }
            if let i = index[path] {
                if v.kind == .privateFile { files[i].mappedPrivately = true }
                continue
            }
            let mapped = "/proc/\(pid)/map_files/\(String(v.start, radix: 16))-\(String(v.end, radix: 16))"
            guard let found = read(mapped) ?? read(path) else { continue }
            index[path] = files.count
            files.append(MappedFileImage(path: path, size: found.size, mappedPrivately: v.kind == .privateFile, buildID: found.buildID))
        }
        return files
    }

    /// Refuses a restore when a file of `processes` changed since the
    /// dump: gone, another kind of file, another size (for a file mapped
    /// privately) or another build id. Every such file is named, once.
    static func requireUnchanged(_ processes: [ProcessImage]) throws {
        var changes: [String] = []
        var checked: Set<String> = []
        for p in processes {
            for file in p.mappedFiles ?? [] where checked.insert(file.path).inserted {
                guard let change = change(of: file) else { continue }
                let address = p.vmas.first { $0.path == file.path }.map { " at 0x\(String($0.start, radix: 16))" } ?? ""
                changes.append("\(file.path) (mapped by pid \(p.pid)\(address)): \(change)")
            }
        }
        guard changes.isEmpty else {
            throw CheckpointError("\(changes.count == 1 ? "a file" : "\(changes.count) files") the image maps changed since the dump, "
                + "so the saved memory would run over other code or data; put back the files as they were to restore it: "
                + changes.joined(separator: "; "))
        }
    }

    /// What differs between `file` and the file at its path now; nil
    /// when nothing recorded does.
    static func change(of file: MappedFileImage) -> String? {
        var info = stat()
        guard stat(file.path, &info) == 0 else { return "it cannot be found: \(String(cString: strerror(errno))) (\(ErrnoNames.name(errno)))" }
        guard info.st_mode & S_IFMT == S_IFREG else { return "it is no longer a regular file" }
        var differences: [String] = []
        if file.mappedPrivately && UInt64(info.st_size) != file.size {
            differences.append("now \(info.st_size) bytes (\(file.size) at the dump)")
        }
        if let recorded = file.buildID {
            let now = read(file.path)?.buildID
            if now != recorded { differences.append("build id now \(now ?? "none") (\(recorded) at the dump)") }
        }
        return differences.isEmpty ? nil : differences.joined(separator: ", ")
    }

    /// Size and build id of the regular file at `path`; nil for anything
    /// else (a device is never read) or a file that cannot be opened.
    private static func read(_ path: String) -> (size: UInt64, buildID: String?)? {
        guard let fd = try? LocalFile.open(path, flags: O_RDONLY | O_NONBLOCK) else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        let buildID = ElfBuildID.of { offset, count in try? LocalFile.read(fd, upTo: count, at: offset) }
        return (UInt64(info.st_size), buildID)
    }
}
