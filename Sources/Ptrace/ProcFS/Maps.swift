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
        var entries: [MapEntry] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            entries.append(try parseLine(Substring(line), file: file))
        }
        return entries
    }

    static func parseLine(_ line: Substring, file: String) throws -> MapEntry {
        func fail(_ why: String) -> ProcParseError { ProcParseError(file: file, line: String(line), reason: why) }
        var rest = line[...]
        func field() -> Substring {
            while rest.first == " " { rest = rest.dropFirst() }
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            let f = rest[rest.startIndex..<end]
            rest = rest[end...]
            return f
        }
        let range = field(), perms = field(), offset = field(), device = field(), inode = field()
        let dash = range.firstIndex(of: "-") ?? range.endIndex
        guard dash != range.endIndex,
              let start = UInt64(range[range.startIndex..<dash], radix: 16),
              let end = UInt64(range[range.index(after: dash)...], radix: 16), end >= start else {
            throw fail("bad address range")
        }
        guard perms.count == 4 else { throw fail("bad permissions") }
        let p = Array(perms)
        guard let off = UInt64(offset, radix: 16) else { throw fail("bad offset") }
        guard let ino = UInt64(inode) else { throw fail("bad inode") }
        while rest.first == " " { rest = rest.dropFirst() }
        // The kernel writes a newline in a file name as "\012".
        let path = rest.isEmpty ? nil : String(rest).replacingOccurrences(of: "\\012", with: "\n")
        return MapEntry(start: start, end: end, read: p[0] == "r", write: p[1] == "w", execute: p[2] == "x",
                        shared: p[3] == "s", offset: off, device: String(device), inode: ino, path: path)
    }
}

/// Per-VMA details only smaps has: VmFlags ("gd" grows down, "dc" don't
/// copy, …) and how much of the VMA is resident or swapped, so the dump can
/// skip scanning pagemap for huge empty reservations.
public struct SmapsDetail: Equatable, Sendable {
    public var flags: [String] = []
    public var residentKiB: UInt64 = 0
    public var swapKiB: UInt64 = 0
}

public enum Smaps {
    public static func details(pid: Int32) throws -> [UInt64: SmapsDetail] {
        parse(try ProcFile.text("/proc/\(pid)/smaps", pid: pid))
    }

    public static func parse(_ text: String) -> [UInt64: SmapsDetail] {
        var result: [UInt64: SmapsDetail] = [:]
        var current: UInt64?
        for line in text.split(separator: "\n") {
            if let colon = line.firstIndex(of: ":"), !line[line.startIndex..<colon].contains(" "), !line[line.startIndex..<colon].contains("-") {
                guard let c = current else { continue }
                let key = line[line.startIndex..<colon]
                let value = line[line.index(after: colon)...]
                switch key {
                case "VmFlags": result[c, default: SmapsDetail()].flags = value.split(separator: " ").map(String.init)
                case "Rss": result[c, default: SmapsDetail()].residentKiB = kib(value)
                case "Swap": result[c, default: SmapsDetail()].swapKiB = kib(value)
                default: break
                }
            } else if let dash = line.firstIndex(of: "-"), let start = UInt64(line[line.startIndex..<dash], radix: 16) {
                current = start
                result[start] = SmapsDetail()
            }
        }
        return result
    }

    static func kib(_ value: Substring) -> UInt64 {
        UInt64(value.split(separator: " ").first ?? "") ?? 0
    }

    /// maps with VmFlags filled in, and the smaps details by start address.
    public static func mapsWithDetails(pid: Int32) throws -> ([MapEntry], [UInt64: SmapsDetail]) {
        var maps = try Maps.read(pid: pid)
        let details = try details(pid: pid)
        for i in maps.indices { maps[i].flags = details[maps[i].start]?.flags ?? [] }
        return (maps, details)
    }
}
