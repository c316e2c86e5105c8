/// /proc/PID/mountinfo: where each mount's device is and what it shows.
public struct MountEntry: Equatable, Sendable {
    public var major: UInt32
    public var minor: UInt32
    /// The directory of the file system that is the mount's root.
    public var root: String
    public var mountPoint: String
    /// The file system type ("ext4", "cgroup", "cgroup2") and its own
    /// options (a cgroup v1 hierarchy lists its controllers there).
    public var fsType: String
    public var superOptions: [String]

    public init(major: UInt32, minor: UInt32, root: String, mountPoint: String, fsType: String = "", superOptions: [String] = []) {
        self.major = major
        self.minor = minor
        self.root = root
        self.mountPoint = mountPoint
        self.fsType = fsType
        self.superOptions = superOptions
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
            guard fields.count >= 5 else { throw ProcParseError(file: file, line: String(line), reason: "too few fields") }
            let device = fields[2].split(separator: ":")
            guard device.count == 2, let major = UInt32(device[0]), let minor = UInt32(device[1]) else {
                throw ProcParseError(file: file, line: String(line), reason: "bad device")
            }
            // Optional fields end at "-"; the file system type, the source
            // and the super options follow.
            let tail = fields.firstIndex(of: "-").map { fields[($0 + 1)...] } ?? []
            return MountEntry(major: major, minor: minor, root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                              fsType: tail.first.map(String.init) ?? "",
                              superOptions: tail.dropFirst(2).first.map { $0.split(separator: ",").map(String.init) } ?? [])
        }
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
