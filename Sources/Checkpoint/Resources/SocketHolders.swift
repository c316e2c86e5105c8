import Glibc
import Ptrace

/// Who holds a socket, by inode. A socket is in the image when a process
/// crtool holds frozen for this dump has a descriptor of it: the whole tree
/// is seized before any file is read, so "traced by crtool" is exactly the
/// set of processes the image will hold.
enum SocketHolders {
    struct Holder {
        var pid: Int32
        var fd: Int32
        /// Whether the process is one of the image's.
        var inImage: Bool
    }

    /// Every descriptor of the sockets `inodes` in any process crtool can see.
    static func holders(of inodes: [UInt64], in system: SystemDescriptors) -> [UInt64: [Holder]] {
        var found: [UInt64: [Holder]] = [:]
        for inode in inodes {
            found[inode] = system.holders(of: "socket:[\(inode)]").map { Holder(pid: $0.pid, fd: $0.fd, inImage: system.inImage($0.pid)) }
        }
        return found.filter { !$0.value.isEmpty }
    }

    /// Refuses a socket a process outside the image holds too: the
    /// restore would make a new socket and cut that process off.
    /// `what` names it: "a raw socket".
    static func requireHeldOnlyInImage(_ p: FileProbe, what: String, context: FileDumpContext) throws {
        if let outside = holders(of: [p.inode], in: context.system)[p.inode]?.first(where: { !$0.inImage }) {
            throw CheckpointError("pid \(p.pid) fd \(p.fd) is \(what) (socket:[\(p.inode)]) also held by \(describe(outside)), a process outside the image; a socket can only be checkpointed together with every process that holds it (--hold-external keeps it open for that process until the restore)")
        }
    }

    /// "pid 45 (nginx) fd 6", or why no process is named.
    static func describe(_ holder: Holder?) -> String {
        guard let h = holder else { return "no process crtool can see" }
        let command = (try? ProcStat.read(pid: h.pid).command).map { " (\($0))" } ?? ""
        return "pid \(h.pid)\(command) fd \(h.fd)"
    }
}
