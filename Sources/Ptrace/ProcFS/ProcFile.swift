import Glibc

/// Reading /proc files whole. /proc files report size 0 and may be large
/// (maps, smaps), so they are read until EOF in chunks.
public enum ProcFile {
    /// `limit` stops reading once that many bytes are in: the kernel makes
    /// some files as they are read (/proc/cpuinfo asks every CPU).
    public static func read(_ path: String, pid: Int32? = nil, limit: Int = .max) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError("open \(path)", pid: pid) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(path)", pid: pid)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count >= limit { break }
        }
        return out
    }

    public static func text(_ path: String, pid: Int32? = nil) throws -> String {
        String(decoding: try read(path, pid: pid), as: UTF8.self)
    }

    /// A file holding one value (a sysctl, a cgroup's control file), its
    /// trailing newline dropped.
    public static func value(_ path: String) throws -> String {
        let text = try self.text(path)
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    public static func link(_ path: String, pid: Int32? = nil) throws -> String {
        var buffer = [Int8](repeating: 0, count: 4097)
        let n = readlink(path, &buffer, 4096)
        if n < 0 { throw SystemError("readlink \(path)", pid: pid) }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }
}

/// A /proc file that did not parse: which file, which line, what was wrong.
public struct ProcParseError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var line: String
    public var reason: String
    public init(file: String, line: String, reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }
    public var description: String { "cannot parse \(file): \(reason) in line \"\(line)\"" }
}
