import Foundation

/// One line of /proc/PID/maps: a VMA.
public struct MapEntry: Equatable, Sendable {
    public var start: UInt64
    public var end: UInt64
    public var read: Bool
    public var write: Bool
    public var execute: Bool
    public var shared: Bool
    public var offset: UInt64
    public var device: String
    public var inode: UInt64
    /// The file path or a pseudo name such as [heap]; nil for plain anonymous memory.
    public var path: String?
    /// VmFlags from smaps ("gd", "dc", …), filled in by Smaps.
    public var flags: [String] = []

    public var size: UInt64 { end - start }
    public var pageCount: Int { Int(size / 4096) }
    public var isDeleted: Bool { path?.hasSuffix(" (deleted)") ?? false }
    /// Pseudo mappings the kernel names in brackets: [heap], [stack], [vdso], …
    public var isSpecial: Bool { path?.hasPrefix("[") ?? false }
    public var isFileBacked: Bool { inode != 0 && !(path?.hasPrefix("[") ?? true) }
    public var protectionString: String {
        (read ? "r" : "-") + (write ? "w" : "-") + (execute ? "x" : "-") + (shared ? "s" : "p")
    }
}

public enum Maps {
    public static func read(pid: Int32) throws -> [MapEntry] {
        try parse(ProcFile.text("/proc/\(pid)/maps", pid: pid), file: "/proc/\(pid)/maps")
    }

    /// Parses maps text. Paths may contain spaces, so everything after the
    /// inode column is the path.
    public static func parse(_ text: String, file: String = "maps") throws -> [MapEntry] {
        let bytes = Array(text.utf8)
        var entries: [MapEntry] = []
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            if lineEnd > lineStart { entries.append(try parseLine(bytes[lineStart..<lineEnd], file: file)) }
            lineStart = lineEnd + 1
        }
        return entries
    }

    /// One line, as UTF-8 bytes: smaps repeats these lines as the headers
    /// of its VMAs, and a process with tens of thousands of VMAs is read
    /// while it is frozen.
    static func parseLine(_ line: ArraySlice<UInt8>, file: String) throws -> MapEntry {
        func fail(_ why: String) -> ProcParseError {
            ProcParseError(file: file, line: String(decoding: line, as: UTF8.self), reason: why)
        }
        let space = UInt8(ascii: " ")
        var rest = line
        func field() -> ArraySlice<UInt8> {
            while rest.first == space { rest = rest.dropFirst() }
            let end = rest.firstIndex(of: space) ?? rest.endIndex
            defer { rest = rest[end...] }
            return rest[rest.startIndex..<end]
        }
        let range = field(), perms = field(), offset = field(), device = field(), inode = field()
        guard let dash = range.firstIndex(of: UInt8(ascii: "-")),
              let start = number(range[range.startIndex..<dash], radix: 16),
              let end = number(range[(dash + 1)...], radix: 16), end >= start else {
            throw fail("bad address range")
        }
        guard perms.count == 4 else { throw fail("bad permissions") }
        let p = Array(perms)
        guard let off = number(offset, radix: 16) else { throw fail("bad offset") }
        guard let ino = number(inode, radix: 10) else { throw fail("bad inode") }
        while rest.first == space { rest = rest.dropFirst() }
        // The kernel writes a newline in a file name as "\012".
        let path: String? = rest.isEmpty ? nil : {
            let text = String(decoding: rest, as: UTF8.self)
            return rest.contains(UInt8(ascii: "\\")) ? text.replacingOccurrences(of: "\\012", with: "\n") : text
        }()
        return MapEntry(start: start, end: end, read: p[0] == UInt8(ascii: "r"), write: p[1] == UInt8(ascii: "w"),
                        execute: p[2] == UInt8(ascii: "x"), shared: p[3] == UInt8(ascii: "s"), offset: off,
                        device: String(decoding: device, as: UTF8.self), inode: ino, path: path)
    }

    /// Digits of `radix` (10, or 16 in either case), nil when empty, when
    /// another byte is among them, or on overflow.
    static func number(_ digits: ArraySlice<UInt8>, radix: UInt64) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var n: UInt64 = 0
        for b in digits {
            guard let digit = digit(b, radix: radix) else { return nil }
            let (shifted, o1) = n.multipliedReportingOverflow(by: radix)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            guard !o1 && !o2 else { return nil }
            n = sum
        }
        return n
    }

    /// The value of one digit of `radix` (10, or 16 in either case).
    static func digit(_ b: UInt8, radix: UInt64) -> UInt64? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: return UInt64(b - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: return UInt64(b - UInt8(ascii: "A")) + 10
        default: return nil
        }
    }
}

/// Per-VMA details only smaps has: VmFlags ("gd" grows down, "dc" don't
/// copy, …) and how much of the VMA is resident or swapped, so the dump can
/// skip scanning pagemap for huge empty reservations.
public struct SmapsDetail: Equatable, Sendable {
    public var flags: [String] = []
    public var residentKiB: UInt64 = 0
    public var swapKiB: UInt64 = 0
    /// Anonymous: pages of the VMA that are anonymous, which in a private
    /// file mapping are the ones copied on write.
    public var anonymousKiB: UInt64 = 0
    /// AnonHugePages: anonymous memory mapped by transparent huge pages.
    public var anonymousHugeKiB: UInt64 = 0
    /// KernelPageSize: 4 for ordinary memory, the huge page size for
    /// memory of the hugetlb pool.
    public var kernelPageKiB: UInt64 = 4
}

public enum Smaps {
    public static func details(pid: Int32) throws -> [UInt64: SmapsDetail] {
        parse(try ProcFile.text("/proc/\(pid)/smaps", pid: pid))
    }

    /// Works on the UTF-8 bytes: smaps has some twenty lines per VMA, and a
    /// process with tens of thousands of VMAs is read while it is frozen.
    /// A VMA's header line starts with its hex start address and a dash;
    /// the other lines are "Key: value".
    public static func parse(_ text: String) -> [UInt64: SmapsDetail] {
        (try? parse(text, file: "smaps", withEntries: false))?.details ?? [:]
    }

    /// `withEntries`: each VMA's header line is parsed as a maps line too
    /// (failing as `Maps.parse` does on a bad one).
    static func parse(_ text: String, file: String, withEntries: Bool) throws -> (entries: [MapEntry], details: [UInt64: SmapsDetail]) {
        let bytes = Array(text.utf8)
        var entries: [MapEntry] = []
        var result: [UInt64: SmapsDetail] = [:]
        var current: UInt64?
        var detail = SmapsDetail()
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != newline { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            var i = lineStart
            while i < lineEnd, Maps.digit(bytes[i], radix: 16) != nil { i += 1 }
            if i < lineEnd && bytes[i] == dash, let address = Maps.number(bytes[lineStart..<i], radix: 16) {
                if withEntries { entries.append(try Maps.parseLine(bytes[lineStart..<lineEnd], file: file)) }
                if let c = current { result[c] = detail }
                current = address
                detail = SmapsDetail()
                continue
            }
            guard current != nil, let colon = bytes[lineStart..<lineEnd].firstIndex(of: colonByte) else { continue }
            let key = bytes[lineStart..<colon]
            let value = bytes[(colon + 1)..<lineEnd]
            if key.elementsEqual("VmFlags".utf8) {
                detail.flags = value.split(separator: space).map { String(decoding: $0, as: UTF8.self) }
            } else if key.elementsEqual("Rss".utf8) {
                detail.residentKiB = kib(value)
            } else if key.elementsEqual("Swap".utf8) {
                detail.swapKiB = kib(value)
            } else if key.elementsEqual("Anonymous".utf8) {
                detail.anonymousKiB = kib(value)
            } else if key.elementsEqual("AnonHugePages".utf8) {
                detail.anonymousHugeKiB = kib(value)
            } else if key.elementsEqual("KernelPageSize".utf8) {
                detail.kernelPageKiB = kib(value)
            }
        }
        if let c = current { result[c] = detail }
        return (entries, result)
    }

    private static let newline = UInt8(ascii: "\n"), dash = UInt8(ascii: "-")
    private static let colonByte = UInt8(ascii: ":"), space = UInt8(ascii: " ")

    /// The number in "   1234 kB".
    static func kib(_ value: ArraySlice<UInt8>) -> UInt64 {
        var n: UInt64 = 0
        var seen = false
        for b in value {
            if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") {
                n = n &* 10 &+ UInt64(b - UInt8(ascii: "0"))
                seen = true
            } else if seen {
                break
            }
        }
        return n
    }

    /// maps with VmFlags filled in, and the smaps details by start address:
    /// both from smaps alone, whose VMA headers are the lines of maps.
    public static func mapsWithDetails(pid: Int32) throws -> ([MapEntry], [UInt64: SmapsDetail]) {
        let file = "/proc/\(pid)/smaps"
        let parsed = try parse(try ProcFile.text(file, pid: pid), file: file, withEntries: true)
        var maps = parsed.entries
        let details = parsed.details
        for i in maps.indices { maps[i].flags = details[maps[i].start]?.flags ?? [] }
        return (maps, details)
    }
}
