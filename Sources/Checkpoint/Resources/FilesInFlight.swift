import Foundation
import Glibc
import Ptrace

/// Files in flight in a unix socket's queue (SCM_RIGHTS). Peeking at the
/// queue with a control buffer gives crtool its own descriptor of each
/// one, the very open file description the receiver will get.
///
/// A file that is also the same description as a descriptor of a process
/// in the image (kcmp) is saved as a reference to that descriptor, taken
/// from the restored process once every process has its files. Any other
/// is saved through its file kind, as if crtool's own descriptor were a
/// process's, and made again in crtool at restore. Refused: a unix socket
/// or an epoll instance that only the queue holds.
enum FilesInFlight {
    /// The queue as the image keeps it, from peeked messages; closes every
    /// descriptor the peek installed.
    static func save(_ messages: [PeekedMessage], queuedAt socket: UInt64) throws -> (queue: [Data], inFlight: [QueuedFiles]?) {
        defer { for m in messages { m.descriptors.forEach { close($0) } } }
        var inFlight: [QueuedFiles] = []
        var index: HolderIndex?
        for (i, m) in messages.enumerated() where !m.descriptors.isEmpty {
            if index == nil { index = HolderIndex() }
            inFlight.append(QueuedFiles(message: i, files: try m.descriptors.map { try save($0, to: socket, holders: &index!) }))
        }
        return (messages.map { Data($0.bytes) }, inFlight.isEmpty ? nil : inFlight)
    }

    private static func save(_ fd: Int32, to socket: UInt64, holders: inout HolderIndex) throws -> InFlightFile {
        let me = getpid()
        let link = "/proc/self/fd/\(fd)"
        let target = try ProcFile.link(link, pid: me)
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat of a file in flight") }
        if let holder = try holders.holder(of: fd, device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) {
            return InFlightFile(heldBy: holder)
        }
        let what = "\(FileKinds.describe(target: target)) in flight to socket:[\(socket)] (SCM_RIGHTS)"
        let info = try FdInfo.read(pid: me, fd: fd)
        let probe = FileProbe(pid: me, fd: fd, link: target, status: st, info: info)
        guard let handler = FileKinds.all.first(where: { $0.recognizes(probe) }) else {
            throw UnixSocketInspector.Refusal(what: "with \(what); crtool cannot checkpoint this kind of file")
        }
        if handler.kind == .unixSocket || handler.kind == .epoll {
            throw UnixSocketInspector.Refusal(
                what: "with \(what) that no process of the image holds; crtool cannot checkpoint a \(handler.kind == .epoll ? "epoll instance" : "unix socket") that exists only in a socket's queue")
        }
        var image = FileDescriptorImage(fd: -1, kind: handler.kind, path: target,
                                        flags: info.flags & ~Int32(O_CLOEXEC), closeOnExec: false, position: info.position)
        image.inode = probe.inode
        image.socketOwner = SocketOwnership.owner(of: probe, kind: handler.kind)
        do {
            // Rare enough to read who holds what afresh, if the kind asks.
            try handler.collect(&image, probe: probe, context: FileDumpContext(crtool: (), system: SystemDescriptors()))
        } catch {
            throw UnixSocketInspector.Refusal(what: "with \(what) that cannot be saved: \(error)")
        }
        return InFlightFile(file: image)
    }

    /// Descriptors of the processes in the image, by device and inode,
    /// read once per socket that has files in flight.
    private struct HolderIndex {
        var byInode: [String: [(pid: Int32, fd: Int32)]] = [:]

        init() {
            for pid in (try? ProcDirectory.numbers("/proc")) ?? [] where pid != getpid() && FrozenByCrtool.contains(pid) {
                for fd in (try? ProcDirectory.fileDescriptors(pid: pid)) ?? [] {
                    var st = stat()
                    guard stat("/proc/\(pid)/fd/\(fd)", &st) == 0 else { continue }
                    byInode["\(st.st_dev):\(st.st_ino)", default: []].append((pid, fd))
                }
            }
        }

        func holder(of fd: Int32, device: UInt64, inode: UInt64) throws -> InFlightFile.Holder? {
            for c in byInode["\(device):\(inode)"] ?? [] where try KernelCompare.sameFile(getpid(), fd, c.pid, c.fd) {
                return InFlightFile.Holder(pid: c.pid, fd: c.fd)
            }
            return nil
        }
    }

    /// crtool's own descriptors of the files `queued` carries, made again
    /// (copies) or taken from the restored process that holds them; the
    /// caller closes them.
    static func descriptors(_ queued: QueuedFiles, context: FileRestoreContext) throws -> [Int32] {
        var made: [Int32] = []
        do {
            for f in queued.files {
                made.append(try descriptor(f, context: context))
            }
        } catch {
            made.forEach { close($0) }
            throw error
        }
        return made
    }

    private static func descriptor(_ f: InFlightFile, context: FileRestoreContext) throws -> Int32 {
        if let h = f.heldBy {
            return try PidFD(pid: h.pid).duplicate(h.fd)
        }
        guard let image = f.file, let handler = FileKinds.handler(for: image.kind) else {
            throw CheckpointError("a file in flight to a socket of pid \(context.pid) has no saved state crtool can restore")
        }
        switch try handler.open(image, context: context) {
        case .local(let fd):
            return try SocketOwnership.handOver(fd, image)
        case .inProcess(let request):
            // Path files are opened inside the process for its descriptors;
            // one in flight is opened by crtool.
            let fd = open(request.path, request.flags | O_CLOEXEC)
            if fd < 0 { throw SystemError("reopening \(image.path), a file in flight to a socket of pid \(context.pid)", pid: context.pid) }
            if request.position != 0, lseek(fd, __off_t(request.position), SEEK_SET) < 0 {
                close(fd)
                throw SystemError("lseek of \(image.path), a file in flight, to \(request.position)", pid: context.pid)
            }
            return fd
        case .remote:
            throw CheckpointError("a file in flight to a socket of pid \(context.pid) is of kind \(image.kind.rawValue), which crtool makes only inside a process")
        }
    }
}
