/// One line of /proc/PID/cgroup: `4:memory:/services/web`, or for the
/// unified (v2) hierarchy `0::/services/web`.
public struct CgroupMembership: Codable, Equatable, Sendable {
    /// The hierarchy's controllers as the kernel lists them ("memory",
    /// "cpu,cpuacct", "name=systemd"); empty for the unified hierarchy.
    public var controllers: String
    /// The cgroup, from the hierarchy's root.
    public var path: String

    /// The hierarchy as messages and `crtool show` name it: its
    /// controllers, or "unified".
    public var hierarchyName: String { controllers.isEmpty ? "unified" : controllers }

    public init(controllers: String, path: String) {
        self.controllers = controllers
        self.path = path
    }

    public static func read(pid: Int32) throws -> [CgroupMembership] {
        let file = "/proc/\(pid)/cgroup"
        return try parse(ProcFile.text(file, pid: pid), file: file)
    }

    public static func parse(_ text: String, file: String = "cgroup") throws -> [CgroupMembership] {
        try text.split(separator: "\n").map { line in
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, Int(fields[0]) != nil, fields[2].hasPrefix("/") else {
                throw ProcParseError(file: file, line: String(line), reason: "not ID:CONTROLLERS:PATH")
            }
            return CgroupMembership(controllers: String(fields[1]), path: String(fields[2]))
        }
    }

    /// A path the kernel could have shown: absolute, no "." or ".."
    /// component, so that joined to a mount point it stays below it.
    public var hasPlainPath: Bool {
        path.hasPrefix("/") && !path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            .contains { $0 == "." || $0 == ".." || ($0.isEmpty && path != "/") }
    }

    /// The directory of this cgroup among `mounts`, or nil when no mount of
    /// its hierarchy reaches it.
    public func directory(in mounts: [MountEntry]) -> String? {
        let wanted = controllers.split(separator: ",").map(String.init)
        let candidates = mounts.filter { m in
            controllers.isEmpty ? m.fsType == "cgroup2" : m.fsType == "cgroup" && wanted.allSatisfy(m.superOptions.contains)
        }
        for m in candidates {
            let inside: Substring
            if m.root == "/" {
                inside = Substring(path)
            } else if path == m.root || path.hasPrefix(m.root + "/") {
                inside = path.dropFirst(m.root.count)
            } else {
                continue
            }
            return m.mountPoint + (inside == "/" ? "" : inside)
        }
        return nil
    }
}
