import Glibc
import Ptrace

/// Files a dump leaves out (`dump --external`) and a restore is given in
/// their place (`restore --inherit-fd fd[N]:FILE`, CRIU's names): the
/// pipe to a supervisor that will not be there at the restore, a log the
/// restore should write elsewhere. FILE is the name /proc/PID/fd gives
/// (pipe:[INODE], socket:[INODE], a path; a path may leave out its
/// leading slash, as CRIU writes it).
public enum ExternalFiles {
    /// One `--inherit-fd`: crtool's descriptor `fd` stands for `file`.
    public struct Inherited: Equatable, Sendable {
        public var fd: Int32
        public var file: String

        /// Parses `fd[N]:FILE`; nil for anything else.
        public init?(_ text: String) {
            guard text.hasPrefix("fd["), let close = text.firstIndex(of: "]"),
                  let fd = Int32(text[text.index(text.startIndex, offsetBy: 3)..<close]), fd >= 0 else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else { return nil }
            self.fd = fd
            file = String(rest.dropFirst())
        }
    }

    /// A dump refuses names of --external that no descriptor of the tree
    /// has: a misspelt one would leave the file it meant in the image, or
    /// the dump refused for it, with no word why.
    static func requireAllFound(_ externals: Set<String>, in processes: [ProcessImage]) throws {
        let found = Set(processes.flatMap { $0.files.filter { $0.external == true }.map(\.path) })
        let missing = externals.subtracting(found).sorted()
        guard !missing.isEmpty else { return }
        throw CheckpointError("--external \(missing.joined(separator: ", ")): no descriptor of the tree is such a file (names are as /proc/PID/fd shows them: pipe:[INODE], socket:[INODE] or a path)")
    }

    /// The terminals left out (`--external /dev/pts/0`, the terminal a
    /// runtime gave a container, whose master it holds), by the directory
    /// they are in as the processes see it: the devpts made again at the
    /// restore needs no pty of theirs, as the restore gives the processes
    /// another terminal (--inherit-fd) in their place. Any file left out
    /// whose name is a number counts: only a devpts's are looked up.
    static func terminals(of processes: [ProcessImage]) -> [String: Set<Int32>] {
        var found: [String: Set<Int32>] = [:]
        for p in processes {
            for f in p.files where f.external == true {
                let parts = f.path.split(separator: "/", omittingEmptySubsequences: false)
                guard parts.count > 1, let index = Int32(parts.last!) else { continue }
                found[parts.dropLast().joined(separator: "/"), default: []].insert(index)
            }
        }
        return found
    }

    static func matches(_ f: FileDescriptorImage, _ file: String) -> Bool {
        names(f.path, file)
    }

    /// Whether `file`, as --inherit-fd gives it, names `path`.
    private static func names(_ path: String, _ file: String) -> Bool {
        path == file || (!file.hasPrefix("/") && path == "/" + file)
    }

    /// The check a restore makes before it creates any process: every file
    /// left out at the dump is given, every descriptor given stands for a
    /// file of the image, is open in crtool, is of that file's type (a
    /// pipe for a pipe, a socket for a socket) and opened for what the
    /// process did with it.
    static func requireGiven(_ processes: [ProcessImage], inherited: [Inherited]) throws {
        var problems: [String] = []
        for p in processes {
            for f in p.files where f.external == true && !inherited.contains(where: { matches(f, $0.file) }) {
                problems.append("fd \(f.fd) of pid \(p.pid) is \(f.path), left out at the dump (--external): give the restore one in its place with --inherit-fd fd[N]:\(f.path)")
            }
        }
        for given in inherited {
            let users = processes.flatMap { p in p.files.filter { matches($0, given.file) }.map { (pid: p.pid, file: $0) } }
            guard let first = users.first else {
                problems.append("--inherit-fd fd[\(given.fd)]:\(given.file): no descriptor of the image is \(given.file)")
                continue
            }
            let flags = fcntl(given.fd, F_GETFL)
            var st = stat()
            guard flags >= 0, fstat(given.fd, &st) == 0 else {
                problems.append("--inherit-fd fd[\(given.fd)]:\(given.file): crtool has no fd \(given.fd) open")
                continue
            }
            let type = st.st_mode & S_IFMT
            if given.file.hasPrefix("pipe:"), type != S_IFIFO {
                problems.append("--inherit-fd fd[\(given.fd)]:\(given.file): fd \(given.fd) is not a pipe or FIFO")
            } else if given.file.hasPrefix("socket:"), type != S_IFSOCK {
                problems.append("--inherit-fd fd[\(given.fd)]:\(given.file): fd \(given.fd) is not a socket")
            }
            let needed = Set(users.map { $0.file.flags & O_ACCMODE })
            let have = flags & O_ACCMODE
            if have != O_RDWR, let lacking = needed.first(where: { $0 != have }) {
                problems.append("--inherit-fd fd[\(given.fd)]:\(given.file): fd \(given.fd) is open for \(mode(have)), but fd \(first.file.fd) of pid \(first.pid) was open for \(mode(lacking))")
            }
        }
        problems += splitPairs(processes, inherited: inherited)
        guard !problems.isEmpty else { return }
        throw CheckpointError(problems.joined(separator: "; "))
    }

    /// Marks every file of the image that a descriptor is given for as
    /// external, as one left out at the dump is: the restore installs the
    /// given descriptor, and the checks of what it would open on this host
    /// leave such a file alone (a log moved away, a keeper ended, a port
    /// the given socket holds itself).
    static func markGiven(_ processes: inout [ProcessImage], inherited: [Inherited]) {
        guard !inherited.isEmpty else { return }
        for p in processes.indices {
            for i in processes[p].files.indices where inherited.contains(where: { matches(processes[p].files[i], $0.file) }) {
                processes[p].files[i].external = true
            }
        }
    }

    /// A bind mount of a file left out at the dump (runc binds the
    /// container's terminal at /dev/console) is made from the file given
    /// in its place, by the path crtool reaches it at: the file it was a
    /// part of (a devpts made anew) would not have it.
    static func bindGiven(_ namespaces: inout [NamespaceImage], inherited: [Inherited]) throws {
        guard !inherited.isEmpty else { return }
        for n in namespaces.indices {
            for i in (namespaces[n].mounts ?? []).indices {
                let m = namespaces[n].mounts![i]
                guard m.origin == .bind, m.fromNamespace == true, let source = m.bindSource,
                      let given = inherited.first(where: { names(source, $0.file) }) else { continue }
                guard let path = try? ProcFile.link("/proc/self/fd/\(given.fd)"), path.hasPrefix("/") else {
                    throw CheckpointError("--inherit-fd fd[\(given.fd)]:\(given.file): mnt:[\(namespaces[n].id)] binds \(source) at \(m.mountPoint), "
                        + "and fd \(given.fd) has no path crtool could bind it from")
                }
                namespaces[n].mounts![i].fromNamespace = nil
                namespaces[n].mounts![i].bindSource = path
            }
        }
    }

    /// A socket of a connected pair in the image comes back with its peer,
    /// made together: one end given another would leave the other end
    /// connected to nothing.
    private static func splitPairs(_ processes: [ProcessImage], inherited: [Inherited]) -> [String] {
        var replaced: [UInt64: String] = [:]
        for p in processes {
            for f in p.files where f.path.hasPrefix("socket:") && (f.external == true || inherited.contains(where: { matches(f, $0.file) })) {
                replaced[f.inode] = f.path
            }
        }
        return processes.flatMap { p in
            p.files.compactMap { f -> String? in
                guard replaced[f.inode] == nil, let peer = f.unixSocket?.peer?.inode, let path = replaced[peer] else { return nil }
                return "\(path) is one end of a socket pair whose other end, fd \(f.fd) of pid \(p.pid), is in the image: the pair comes back whole or not at all"
            }
        }
    }

    private static func mode(_ accessMode: Int32) -> String {
        switch accessMode {
        case O_RDONLY: return "reading"
        case O_WRONLY: return "writing"
        default: return "reading and writing"
        }
    }
}
