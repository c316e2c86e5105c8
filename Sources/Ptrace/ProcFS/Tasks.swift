import Glibc

/// Listing the threads and file descriptors of a process.
public enum ProcDirectory {
    /// Numeric entries of a /proc directory, sorted.
    public static func numbers(_ path: String, pid: Int32? = nil) throws -> [Int32] {
        guard let dir = opendir(path) else { throw SystemError("opendir \(path)", pid: pid) }
        defer { closedir(dir) }
        var result: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let n = Int32(name) { result.append(n) }
        }
        return result.sorted()
    }

    public static func threads(pid: Int32) throws -> [Int32] {
        try numbers("/proc/\(pid)/task", pid: pid)
    }

    public static func fileDescriptors(pid: Int32) throws -> [Int32] {
        try numbers("/proc/\(pid)/fd", pid: pid)
    }

    /// Direct children of every thread of `pid`.
    public static func children(pid: Int32) throws -> [Int32] {
        var result: [Int32] = []
        for tid in try threads(pid: pid) {
            let text = (try? ProcFile.text("/proc/\(pid)/task/\(tid)/children", pid: pid)) ?? ""
            result += text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: " \n")) }
        }
        return result.sorted()
    }
}

/// /proc/PID/fdinfo/FD: position and open flags of one descriptor.
public struct FdInfo: Equatable, Sendable {
    public var position: Int64
    /// The open flags in octal as the kernel shows them, O_CLOEXEC included.
    public var flags: Int32
    public var mountID: Int32
    /// The first value of each key; keys that repeat are parsed on their own (`locks`).
    public var fields: [String: String]
    /// Every "lock:" line: the locks this open file description holds.
    public var locks: [HeldFileLock] = []

    public static func read(pid: Int32, fd: Int32) throws -> FdInfo {
        try parse(ProcFile.text("/proc/\(pid)/fdinfo/\(fd)", pid: pid), file: "/proc/\(pid)/fdinfo/\(fd)")
    }

    public static func parse(_ text: String, file: String = "fdinfo") throws -> FdInfo {
        var fields: [String: String] = [:]
        var locks: [HeldFileLock] = []
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[line.startIndex..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            if key == "lock" { locks.append(try HeldFileLock.parse(value, file: file)) }
            if fields[key] == nil { fields[key] = value }
        }
        guard let pos = fields["pos"].flatMap({ Int64($0) }) else {
            throw ProcParseError(file: file, line: fields["pos"] ?? "", reason: "missing or bad pos")
        }
        guard let flags = fields["flags"].flatMap({ Int32($0, radix: 8) }) else {
            throw ProcParseError(file: file, line: fields["flags"] ?? "", reason: "missing or bad flags")
        }
        return FdInfo(position: pos, flags: flags, mountID: fields["mnt_id"].flatMap { Int32($0) } ?? 0, fields: fields, locks: locks)
    }
}
