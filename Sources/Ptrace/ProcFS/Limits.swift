/// /proc/PID/limits. Read here rather than with prlimit because root on
/// this system lacks CAP_SYS_RESOURCE, and prlimit on another user's
/// process fails.
public struct ResourceLimit: Codable, Equatable, Sendable {
    public var resource: Int32
    public var name: String
    /// UInt64.max is RLIM_INFINITY.
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, name: String, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.name = name
        self.soft = soft
        self.hard = hard
    }
}

public enum Limits {
    /// The row titles in /proc/PID/limits, in RLIMIT_* order.
    static let titles = ["Max cpu time", "Max file size", "Max data size", "Max stack size", "Max core file size",
                         "Max resident set", "Max processes", "Max open files", "Max locked memory", "Max address space",
                         "Max file locks", "Max pending signals", "Max msgqueue size", "Max nice priority",
                         "Max realtime priority", "Max realtime timeout"]

    public static func read(pid: Int32) throws -> [ResourceLimit] {
        try parse(ProcFile.text("/proc/\(pid)/limits", pid: pid), file: "/proc/\(pid)/limits")
    }

    public static func parse(_ text: String, file: String = "limits") throws -> [ResourceLimit] {
        var result: [ResourceLimit] = []
        for line in text.split(separator: "\n") {
            guard let index = titles.firstIndex(where: { line.hasPrefix($0) }) else { continue }
            let title = titles[index]
            let columns = line.dropFirst(title.count).split(separator: " ", omittingEmptySubsequences: true)
            guard columns.count >= 2 else { throw ProcParseError(file: file, line: String(line), reason: "missing soft/hard columns") }
            func value(_ s: Substring) throws -> UInt64 {
                if s == "unlimited" { return UInt64.max }
                guard let v = UInt64(s) else { throw ProcParseError(file: file, line: String(line), reason: "bad limit \(s)") }
                return v
            }
            result.append(ResourceLimit(resource: Int32(index), name: title, soft: try value(columns[0]), hard: try value(columns[1])))
        }
        return result
    }
}

/// /proc/PID/auxv: the auxiliary vector as (type, value) words.
public enum Auxv {
    public static func read(pid: Int32) throws -> [UInt64] {
        let bytes = try ProcFile.read("/proc/\(pid)/auxv", pid: pid)
        return stride(from: 0, to: bytes.count - 7, by: 8).map { bytes.le(UInt64.self, at: $0) }
    }
}
