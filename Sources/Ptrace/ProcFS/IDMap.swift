/// One line of a user namespace's uid_map or gid_map: `count` ids from
/// `inside` in the namespace are `outside` and on in its parent.
public struct IDMapping: Codable, Equatable, Sendable {
    public var inside: UInt32
    public var outside: UInt32
    public var count: UInt32

    public init(inside: UInt32, outside: UInt32, count: UInt32) {
        self.inside = inside
        self.outside = outside
        self.count = count
    }
}

/// /proc/PID/uid_map, gid_map and setgroups: how a user namespace's ids
/// stand for its parent's, and whether setgroups is allowed in it.
public enum IDMap {
    /// The most lines the kernel takes in a map (Linux 4.15).
    public static let maximumLines = 340

    /// `file`: "uid_map" or "gid_map". As crtool's namespace sees them:
    /// the namespace's parent, when crtool is in that one.
    public static func read(pid: Int32, file: String) throws -> [IDMapping] {
        let path = "/proc/\(pid)/\(file)"
        return try parse(ProcFile.text(path, pid: pid), file: path)
    }

    public static func parse(_ text: String, file: String) throws -> [IDMapping] {
        try text.split(separator: "\n").map { line in
            let columns = line.split(separator: " ", omittingEmptySubsequences: true).map { UInt32($0) }
            guard columns.count == 3, let inside = columns[0], let outside = columns[1], let count = columns[2] else {
                throw ProcParseError(file: file, line: String(line), reason: "not three ids")
            }
            return IDMapping(inside: inside, outside: outside, count: count)
        }
    }

    /// The map as the kernel takes it: all its lines in one write.
    public static func text(_ map: [IDMapping]) -> String {
        map.map { "\($0.inside) \($0.outside) \($0.count)\n" }.joined()
    }

    /// Whether setgroups(2) is allowed in the user namespace `pid` is in
    /// ("allow"), or was denied before its gid_map was written ("deny").
    public static func setgroupsAllowed(pid: Int32) throws -> Bool {
        let path = "/proc/\(pid)/setgroups"
        let word = try ProcFile.text(path, pid: pid).split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
        guard word == "allow" || word == "deny" else {
            throw ProcParseError(file: path, line: word, reason: "neither allow nor deny")
        }
        return word == "allow"
    }

    /// What is wrong with a map the kernel would refuse: too many lines,
    /// a line of no ids, ranges past 2^32 or overlapping inside or
    /// outside. Nil for a good one, and for none (a map never written).
    public static func problem(_ map: [IDMapping]) -> String? {
        guard map.count <= maximumLines else { return "\(map.count) lines (at most \(maximumLines))" }
        for (i, m) in map.enumerated() {
            guard m.count > 0, UInt64(m.inside) + UInt64(m.count) <= 1 << 32, UInt64(m.outside) + UInt64(m.count) <= 1 << 32 else {
                return "line \(i) (\(m.inside) \(m.outside) \(m.count)) is no range of ids"
            }
            for other in map[..<i] {
                func overlap(_ a: UInt32, _ b: UInt32) -> Bool {
                    UInt64(a) < UInt64(b) + UInt64(other.count) && UInt64(b) < UInt64(a) + UInt64(m.count)
                }
                if overlap(m.inside, other.inside) || overlap(m.outside, other.outside) {
                    return "line \(i) (\(m.inside) \(m.outside) \(m.count)) overlaps another"
                }
            }
        }
        return nil
    }
}
