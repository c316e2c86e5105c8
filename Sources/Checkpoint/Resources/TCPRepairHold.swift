import Glibc
import Ptrace

/// The sockets of established connections a dump put in TCP repair mode,
/// where they send nothing while their state is read. A dump that kills
/// the tree keeps them there, so they close without a FIN or RST and the
/// peer keeps its end for the restore; one that lets the tree run on
/// (--leave-running, or any failure) takes them out again, silently, with
/// SO_REUSEADDR as it was (leaving repair mode clears it).
public final class TCPRepairHold: @unchecked Sendable {
    private var held: [UInt64: (fd: Int32, reuseAddress: Int32)] = [:]

    public init() {}

    deinit { resume() }

    /// Puts the socket `fd` (crtool's copy; socket inode `inode`) in repair
    /// mode until the dump ends; once per socket.
    func hold(_ fd: Int32, inode: UInt64) throws {
        guard held[inode] == nil else { return }
        let reuse = try Sockets.intOption(fd, level: SOL_SOCKET, name: SO_REUSEADDR)
        let own = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard own >= 0 else { throw SystemError("duplicating a socket to hold in repair mode") }
        do {
            try TCPRepair.enable(own)
        } catch {
            close(own)
            throw error
        }
        held[inode] = (own, reuse)
    }

    /// Out of repair mode without a window probe, for a tree that runs on.
    /// Returns what could not be put back, for the dump's warnings.
    @discardableResult
    public func resume() -> [String] {
        var problems: [String] = []
        for (inode, h) in held {
            do {
                try TCPRepair.disable(h.fd, probe: false)
                if h.reuseAddress != 0 { try Sockets.setIntOption(h.fd, level: SOL_SOCKET, name: SO_REUSEADDR, h.reuseAddress) }
            } catch {
                problems.append("socket:[\(inode)]: \(error)")
            }
            close(h.fd)
        }
        held = [:]
        return problems
    }

    /// For a tree that was killed: the sockets close in repair mode.
    public func release() {
        for h in held.values { close(h.fd) }
        held = [:]
    }
}
