import Glibc
import Ptrace

/// A socket belongs to the user whose thread made it; crtool makes every
/// socket of a restore itself, as root, so without this a restored
/// service's sockets would all be root's: its connections' packets would
/// escape firewall rules that match their owner (`meta skuid`, `-m owner`),
/// and /proc/net and `ss -e` would name root. fchown on a socket sets the
/// owner the kernel matches on, too.
enum SocketOwnership {
    static let socketKinds: Set<FileDescriptorImage.Kind> = [.unixSocket, .inetSocket, .rawSocket, .netlinkSocket, .packetSocket]

    /// The owner to record; nil for root's (the restore's own) and for files.
    static func owner(of p: FileProbe, kind: FileDescriptorImage.Kind) -> SocketOwner? {
        guard socketKinds.contains(kind), p.uid != 0 || p.gid != 0 else { return nil }
        return SocketOwner(uid: p.uid, gid: p.gid)
    }

    /// Gives `fd`, crtool's socket made for `f`, its recorded owner.
    static func give(_ fd: Int32, _ f: FileDescriptorImage) throws {
        guard let owner = f.socketOwner, socketKinds.contains(f.kind) else { return }
        if fchown(fd, owner.uid, owner.gid) != 0 {
            throw SystemError("giving the socket of fd \(f.fd) to uid \(owner.uid) gid \(owner.gid)")
        }
    }

    /// `give` for a descriptor made to be handed on: returns it, or closes
    /// it when it cannot be given its owner.
    static func handOver(_ fd: Int32, _ f: FileDescriptorImage) throws -> Int32 {
        do {
            try give(fd, f)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }
}
