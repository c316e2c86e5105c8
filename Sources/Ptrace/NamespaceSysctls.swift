import Foundation
import Glibc

/// The sysctls an IPC or network namespace holds of its own. A file of
/// /proc/sys answers for the namespaces of the thread that opens it, so
/// these are read and written from a thread inside the namespace
/// (NamespaceEntry), by path below /proc/sys ("net/core/somaxconn").
public enum NamespaceSysctls {
    public static let root = "/proc/sys/"

    /// What `kind` holds: System V and POSIX message queue limits for an
    /// IPC namespace (the next-id files are the restore's own tools), the
    /// whole net/ tree for a network namespace. Nil for other kinds.
    public static func paths(for kind: NamespaceKind) -> [String]? {
        switch kind {
        case .ipc:
            return ["kernel/shmmax", "kernel/shmall", "kernel/shmmni", "kernel/shm_rmid_forced", "kernel/msgmax", "kernel/msgmnb",
                    "kernel/msgmni", "kernel/sem", "fs/mqueue/queues_max", "fs/mqueue/msg_max", "fs/mqueue/msgsize_max",
                    "fs/mqueue/msg_default", "fs/mqueue/msgsize_default"]
        case .net:
            return writableFiles(under: "net")
        default:
            return nil
        }
    }

    /// The device a network sysctl is of ("eth0" of
    /// net/ipv4/conf/eth0/forwarding), nil for one of the namespace's own
    /// and for the "all" and "default" entries. A device takes the
    /// "default" entry's values when it is made; where there is none (the
    /// neigh entries of a namespace other than the host's), the
    /// kernel's own, which the loopback has too.
    public static func device(of path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0] == "net", parts[1] == "ipv4" || parts[1] == "ipv6",
              parts[2] == "conf" || parts[2] == "neigh", parts[3] != "all", parts[3] != "default" else { return nil }
        return String(parts[3])
    }

    /// The same sysctl of device `other` ("default", "lo").
    public static func entry(of path: String, for other: String) -> String? {
        guard device(of: path) != nil else { return nil }
        var parts = path.split(separator: "/", omittingEmptySubsequences: false)
        parts[3] = Substring(other)
        return parts.joined(separator: "/")
    }

    /// Whether `path` is one a namespace of `kind` may have saved: a
    /// hostile image must not reach any other sysctl through a restore
    /// that runs as root.
    public static func belongs(_ path: String, to kind: NamespaceKind) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else { return false }
        switch kind {
        case .ipc: return paths(for: .ipc)!.contains(path)
        case .net: return parts.first == "net" && parts.count > 1
        default: return false
        }
    }

    /// The value of each of `paths` the calling thread can read, its
    /// trailing newline dropped. One that cannot be read (unset, or not
    /// in this kernel) is left out.
    public static func read(_ paths: [String]) -> [String: String] {
        var values: [String: String] = [:]
        for path in paths {
            values[path] = try? ProcFile.value(root + path)
        }
        return values
    }

    /// Writes `value` to `path`, as `sysctl -w` does.
    public static func write(_ path: String, _ value: String) throws {
        try LocalFile.writeControl(value + "\n", to: root + path)
    }

    /// Every file below /proc/sys/`directory` its owner may read and write.
    private static func writableFiles(under directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root + directory) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = directory + "/" + relative
            var st = stat()
            guard stat(root + path, &st) == 0, st.st_mode & S_IFMT == S_IFREG,
                  st.st_mode & S_IRUSR != 0, st.st_mode & S_IWUSR != 0 else { continue }
            found.append(path)
        }
        return found.sorted()
    }
}
