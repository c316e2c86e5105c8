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
            guard let found = look(at: mapped).found ?? look(at: path).found else { continue }
            index[path] = files.count
            files.append(MappedFileImage(path: path, size: found.size, mappedPrivately: v.kind == .privateFile, buildID: found.buildID))
        }
        return files
    }

    /// Refuses a restore when a file of `processes` changed since the
    /// dump: gone, another kind of file, another size (for a file mapped
    /// privately) or another build id. Every such file is named, once.
    /// `paths`: where each process's files are in crtool's namespace.
    static func requireUnchanged(_ processes: [ProcessImage], paths: HostPaths = .crtools) throws {
        var changes: [String] = []
        var checked: Set<String> = []
        for p in processes {
            for file in p.mappedFiles ?? [] {
                guard let path = paths.of(file.path, pid: p.pid), checked.insert(path).inserted, let change = change(of: file, at: path) else { continue }
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
    static func change(of file: MappedFileImage, at path: String? = nil) -> String? {
        let now: (size: UInt64, buildID: String?)
        switch look(at: path ?? file.path) {
        case .missing(let error): return "it cannot be found: \(ErrnoNames.describe(error))"
        case .notRegular: return "it is no longer a regular file"
        case .unopenable(let error): return "it cannot be opened: \(ErrnoNames.describe(error))"
        case .regular(let size, let buildID): now = (size, buildID)
        }
        var differences: [String] = []
        if file.mappedPrivately && now.size != file.size {
            differences.append("now \(now.size) bytes (\(file.size) at the dump)")
        }
        if let recorded = file.buildID, now.buildID != recorded {
            differences.append("build id now \(now.buildID ?? "none") (\(recorded) at the dump)")
        }
        return differences.isEmpty ? nil : differences.joined(separator: ", ")
    }

    /// What is at a path: looked at once, and opened only when it is a
    /// regular file, so no device a process maps is ever opened.
    private enum Looked {
        case missing(Int32)
        case notRegular
        case unopenable(Int32)
        case regular(size: UInt64, buildID: String?)

        var found: (size: UInt64, buildID: String?)? {
            if case .regular(let size, let buildID) = self { return (size, buildID) }
            return nil
        }
    }

    private static func look(at path: String) -> Looked {
        switch FileAtPath(path) {
        case .missing(let error): return .missing(error)
        case .notRegular: return .notRegular
        case .regular: break
        }
        let fd: Int32
        do {
            fd = try LocalFile.open(path, flags: O_RDONLY | O_NONBLOCK)
        } catch let error as SystemError {
            return .unopenable(error.errno)
        } catch {
            return .unopenable(EIO)
        }
        defer { close(fd) }
        // The size of what was opened, should the path have changed since.
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return .notRegular }
        let buildID = ElfBuildID.of { offset, count in try? LocalFile.read(fd, upTo: count, at: offset) }
        return .regular(size: UInt64(info.st_size), buildID: buildID)
    }
}
