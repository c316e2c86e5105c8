import Glibc
import Ptrace

/// Listening sockets a process outside the image holds too: systemd's
/// socket activation and supervisors pass a listener to the program and
/// keep it open themselves. Made again, the listener would be another
/// socket, and the outside process would lose the program's share of it
/// (or the program could not bind at all while the outside one holds the
/// address); so the restore takes the very socket back from the outside
/// process (pidfd_getfd). The socket outlives the dump in that process:
/// connections that arrive meanwhile wait in its queue for the restored
/// program to accept them.
enum OutsideListeners {
    /// The outside process to take the socket back from, when `p` is a
    /// listening socket one holds; nil otherwise.
    static func holder(of p: FileProbe, context: FileDumpContext) throws -> OutsideHolder? {
        guard p.fileType == UInt32(S_IFSOCK),
              let outside = SocketHolders.holders(of: [p.inode], in: context.system)[p.inode]?.first(where: { !$0.inImage }),
              try Sockets.intOption(try context.local(p.fd), level: SOL_SOCKET, name: SO_ACCEPTCONN) == 1 else { return nil }
        return OutsideHolder(pid: outside.pid, fd: outside.fd, startTime: try ProcStat.read(pid: outside.pid).startTime)
    }
}
