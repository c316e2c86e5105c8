/// /proc/PID/mountinfo: where each mount's device is and what it shows.
public struct MountEntry: Equatable, Sendable {
    /// The mount's id in its namespace, and the id of the mount it sits
    /// on (its own for the namespace's root).
    public var id: Int
    public var parentID: Int
    public var major: UInt32
    public var minor: UInt32
    /// The directory of the file system that is the mount's root.
    public var root: String
    public var mountPoint: String
    /// The file system type ("ext4", "cgroup", "cgroup2") and its own
    /// options (a cgroup v1 hierarchy lists its controllers there).
    public var fsType: String
    public var superOptions: [String]
    /// The mount's own options ("ro", "nosuid", "relatime"): one file
    /// system can be mounted in several places with different ones.
    public var mountOptions: [String]
    /// How mount events spread to and from it: "shared:N" (peer group
    /// N), "master:N" (receives from group N), "unbindable"; none for a
    /// private mount.
    public var propagation: [String]
    /// What was mounted: a device, "tmpfs", "proc".
    public var source: String

    public init(id: Int = 0, parentID: Int = 0, major: UInt32, minor: UInt32, root: String, mountPoint: String, fsType: String = "",
                superOptions: [String] = [], mountOptions: [String] = [], propagation: [String] = [], source: String = "") {
        self.id = id
        self.parentID = parentID
        self.major = major
        self.minor = minor
        self.root = root
        self.mountPoint = mountPoint
        self.fsType = fsType
        self.superOptions = superOptions
        self.mountOptions = mountOptions
        self.propagation = propagation
        self.source = source
    }
}

public enum MountTable {
    public static func read(pid: Int32) throws -> [MountEntry] {
        let file = "/proc/\(pid)/mountinfo"
        return try parse(ProcFile.text(file, pid: pid), file: file)
    }

    /// Lines look like `36 35 98:0 /mnt1 /mnt/parent rw,noatime - ext3 /dev/root rw`;
    /// paths escape space, tab, newline and backslash in octal.
    public static func parse(_ text: String, file: String = "mountinfo") throws -> [MountEntry] {
        try text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 6 else { throw ProcParseError(file: file, line: String(line), reason: "too few fields") }
            guard let id = Int(fields[0]), let parentID = Int(fields[1]) else {
                throw ProcParseError(file: file, line: String(line), reason: "bad mount id")
            }
            let device = fields[2].split(separator: ":")
            guard device.count == 2, let major = UInt32(device[0]), let minor = UInt32(device[1]) else {
                throw ProcParseError(file: file, line: String(line), reason: "bad device")
            }
            // Optional fields end at "-"; the file system type, the source
            // and the super options follow.
            let separator = fields.firstIndex(of: "-")
            let tail = separator.map { fields[($0 + 1)...] } ?? []
            return MountEntry(id: id, parentID: parentID, major: major, minor: minor, root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                              fsType: tail.first.map(String.init) ?? "",
                              superOptions: tail.dropFirst(2).first.map { $0.split(separator: ",").map(String.init) } ?? [],
                              mountOptions: fields[5].split(separator: ",").map(String.init),
                              propagation: fields[6..<(separator ?? fields.endIndex)].map(String.init),
                              source: tail.dropFirst().first.map { unescape($0) } ?? "")
        }
    }

    /// The mounts each after the one it sits on, otherwise in the order
    /// the table gave them: an order in which they can be made again. The
    /// table lists a namespace's mounts in the order they were made (a
    /// copied namespace's in the order of the copy), which a bind of a
    /// part of an earlier mount needs: a container runtime mounts /dev,
    /// then binds its /dev/null over files of /proc made before it. A
    /// mount listed before the one it sits on (moved, or under a new
    /// root) comes right after that one. A mount whose parent is not in
    /// the table counts as a root.
    public static func parentsFirst(_ mounts: [MountEntry]) -> [MountEntry] {
        let ids = Set(mounts.map(\.id))
        var waiting: [Int: [Int]] = [:]
        var placed: Set<Int> = []
        var ordered: [MountEntry] = []
        func place(_ i: Int) {
            var next = [i]
            while let j = next.popLast() {
                guard placed.insert(mounts[j].id).inserted else { continue }
                ordered.append(mounts[j])
                next += (waiting.removeValue(forKey: mounts[j].id) ?? []).reversed()
            }
        }
        for (i, m) in mounts.enumerated() {
            if m.parentID == m.id || !ids.contains(m.parentID) || placed.contains(m.parentID) {
                place(i)
            } else {
                waiting[m.parentID, default: []].append(i)
            }
        }
        // Mounts in a loop of parents (not a table the kernel gives) last.
        for i in mounts.indices where !placed.contains(mounts[i].id) { place(i) }
        return ordered
    }

    static func unescape<S: StringProtocol>(_ s: S) -> String {
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
