import CSupport
import Glibc

/// The kinds of namespace /proc/PID/ns names, with the clone flag that
/// makes one (unshare) or enters one (setns).
public enum NamespaceKind: String, CaseIterable, Codable, Sendable {
    case user, pid, mnt, net, ipc, uts, cgroup, time

    public var cloneFlag: UInt64 {
        switch self {
        case .user: return 0x1000_0000
        case .pid: return 0x2000_0000
        case .mnt: return 0x0002_0000
        case .net: return 0x4000_0000
        case .ipc: return 0x0800_0000
        case .uts: return 0x0400_0000
        case .cgroup: return 0x0200_0000
        case .time: return 0x0000_0080
        }
    }

    /// As a sentence names it: "UTS namespace", "mount namespace".
    public var title: String {
        switch self {
        case .mnt: return "mount namespace"
        case .uts: return "UTS namespace"
        case .ipc: return "IPC namespace"
        case .net: return "network namespace"
        default: return "\(rawValue) namespace"
        }
    }

    /// The file that stands for the namespace of this kind `pid` (or its
    /// thread `tid`) is in.
    public func path(pid: Int32, tid: Int32? = nil) -> String {
        tid.map { "/proc/\(pid)/task/\($0)/ns/\(rawValue)" } ?? "/proc/\(pid)/ns/\(rawValue)"
    }

    /// The namespace's inode number, which names it for as long as it
    /// exists: "uts:[4026531838]" gives 4026531838.
    public func id(pid: Int32, tid: Int32? = nil) throws -> UInt64 {
        try Self.id(link: ProcFile.link(path(pid: pid, tid: tid), pid: pid), path: path(pid: pid, tid: tid))
    }

    /// The file that stands for the namespace of this kind (PID or time)
    /// `pid`'s next children are born in: its own, but after an unshare
    /// of these two kinds (the caller stays where it was) or a setns of a
    /// PID namespace the one it chose.
    public func forChildrenPath(pid: Int32) -> String {
        precondition(self == .pid || self == .time, "only PID and time namespaces are chosen for children")
        return "/proc/\(pid)/ns/\(rawValue)_for_children"
    }

    public func forChildrenID(pid: Int32) throws -> UInt64 {
        let path = forChildrenPath(pid: pid)
        return try Self.id(link: ProcFile.link(path, pid: pid), path: path)
    }

    /// The namespace of this kind crtool itself is in.
    public func ownID() throws -> UInt64 {
        try Self.id(link: ProcFile.link("/proc/self/ns/\(rawValue)"), path: "/proc/self/ns/\(rawValue)")
    }

    public static func id(link: String, path: String) throws -> UInt64 {
        guard link.hasSuffix("]"), let open = link.firstIndex(of: "["),
              let id = UInt64(link[link.index(after: open)..<link.index(before: link.endIndex)]) else {
            throw SystemError("read the namespace \(path) names (\(link))", errno: EINVAL)
        }
        return id
    }
}

/// Work done inside a namespace another process is in, from a thread of
/// crtool's own that enters it and ends: setns moves only the calling
/// thread for a UTS, IPC or network namespace, so the rest of crtool
/// stays where it is.
public enum NamespaceEntry {
    public static func run<T>(in kind: NamespaceKind, of pid: Int32, _ body: @escaping () throws -> T) throws -> T {
        let path = kind.path(pid: pid)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", pid: pid) }
        defer { close(fd) }
        return try run(in: kind, descriptor: fd, what: "the \(kind.title) of pid \(pid)", pid: pid, body)
    }

    /// As `run(in:of:)`, in the namespace crtool's descriptor `fd` is open
    /// on (one a restore was given, which no process need be in yet);
    /// `what` names it in errors.
    public static func run<T>(in kind: NamespaceKind, descriptor fd: Int32, what: String, pid: Int32? = nil,
                              _ body: @escaping () throws -> T) throws -> T {
        precondition([.uts, .ipc, .net, .cgroup].contains(kind), "setns moves the whole process for a \(kind.title)")
        return try DedicatedThread.run(named: "crtool-\(kind.rawValue)-ns") {
            guard cr_syscall6(Int(Syscall.setns), UInt64(fd), kind.cloneFlag, 0, 0, 0, 0) == 0 else {
                throw SystemError("setns into \(what)", pid: pid)
            }
            return try body()
        }
    }

    /// Runs `body` on a thread of its own in a namespace of `kind` made
    /// for it, which ends with the thread: what a namespace of this kind
    /// has before anything is done to it, as a restore makes it.
    public static func runInNew<T>(_ kind: NamespaceKind, _ body: @escaping () throws -> T) throws -> T {
        precondition([.uts, .ipc, .net].contains(kind), "unshare moves the whole process for a \(kind.title)")
        return try DedicatedThread.run(named: "crtool-new-\(kind.rawValue)") {
            guard cr_syscall6(Int(Syscall.unshare), kind.cloneFlag, 0, 0, 0, 0, 0) == 0 else {
                throw SystemError("unshare of a new \(kind.title)")
            }
            return try body()
        }
    }
}

/// A UTS namespace's names: what uname(2) gives as nodename and
/// domainname, and hostname(1) and domainname(1) print.
public struct UTSNames: Equatable, Sendable {
    public var hostname: String
    public var domainname: String

    public init(hostname: String, domainname: String) {
        self.hostname = hostname
        self.domainname = domainname
    }

    /// The names of the UTS namespace the calling thread is in.
    public static func current() -> UTSNames {
        var system = utsname()
        uname(&system)
        return UTSNames(hostname: withUnsafeBytes(of: &system.nodename) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) },
                        domainname: withUnsafeBytes(of: &system.__domainname) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) })
    }

    /// The names of the UTS namespace `pid` is in.
    public static func of(pid: Int32) throws -> UTSNames {
        try NamespaceEntry.run(in: .uts, of: pid) { current() }
    }

    /// The most bytes sethostname and setdomainname take (__NEW_UTS_LEN).
    public static let maximumLength = 64
}
