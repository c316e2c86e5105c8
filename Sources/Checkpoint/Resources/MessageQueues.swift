import Foundation
import Glibc
import Ptrace

/// POSIX message queue descriptors (mq_open). The dump saves the queue's
/// name, owner, sizes and messages, read through a description of
/// crtool's own, opened for reading whatever the process's allows. The
/// restore, in the process's IPC namespace, opens the queue by name when
/// it is still there (a queue outlives its users, and whoever else uses
/// it still does, so it is taken as it is, as System V objects are), and
/// otherwise makes it again, filled, with its owner and mode. Each
/// description is then opened anew on that queue through crtool's
/// descriptor, with its own access mode and O_NONBLOCK.
enum MessageQueues: FileKind {
    static let kind = FileDescriptorImage.Kind.messageQueue

    /// A queue's file is a regular file on an anonymous device; only the
    /// file system tells it from a tmpfs file.
    static func recognizes(_ p: FileProbe) -> Bool {
        p.fileType == UInt32(S_IFREG) && DeviceNumber(p.device).major == 0 && p.link.hasPrefix("/")
            && FileSystemMagic.of("/proc/\(p.pid)/fd/\(p.fd)") == FileSystemMagic.mqueue
    }

    static func collect(_ image: inout FileDescriptorImage, probe p: FileProbe, context: FileDumpContext) throws {
        let unlinked = p.link.hasSuffix(DeletedFiles.suffix)
        let name = unlinked ? String(p.link.dropLast(DeletedFiles.suffix.count)) : p.link
        let what = "pid \(p.pid) fd \(p.fd), the POSIX message queue \(name)"
        let reader = Glibc.open("/proc/self/fd/\(try context.local(p.fd))", O_RDWR | O_CLOEXEC)
        guard reader >= 0 else { throw SystemError("opening \(what), to read its messages", pid: p.pid) }
        defer { close(reader) }
        let owner = try MessageQueueOps.notificationOwner(reader)
        guard owner == 0 else {
            throw CheckpointError("\(what), has pid \(owner) registered for its notification (mq_notify), which crtool cannot read "
                + "back, and a message put back on the queue would fire it: crtool cannot checkpoint this queue")
        }
        let attributes = try MessageQueueOps.attributes(reader)
        let messages = attributes.currentMessages == 0 ? [] : try MessageQueueOps.peek(reader, messageSize: attributes.messageSize)
        image.messageQueue = MessageQueueState(
            name: name, unlinked: unlinked, mode: p.mode & 0o7777, uid: p.uid, gid: p.gid,
            maxMessages: attributes.maxMessages, messageSize: attributes.messageSize,
            messages: messages.map { QueuedMessage(priority: $0.priority, data: Data($0.bytes)) })
        image.inode = p.inode
    }

    static func open(_ image: FileDescriptorImage, context: FileRestoreContext) throws -> OpenedFile {
        guard let queue = image.messageQueue else {
            throw CheckpointError("fd \(image.fd) of pid \(context.pid) is a message queue without its saved state")
        }
        let key = "messageQueue:\(image.inode):\(queue.name)"
        let held: Int32
        if let made = context.shared[key] as? Int32 {
            held = made
        } else {
            let pid = context.pid
            let (fd, made) = try NamespaceEntry.run(in: .ipc, of: pid) { try findOrMake(queue, pid: pid) }
            context.registry.keep(fd)
            context.shared[key] = fd
            if made {
                context.registry.undoOnFailure { _ = try? NamespaceEntry.run(in: .ipc, of: pid) { try MessageQueueOps.unlink(queue.name) } }
            }
            held = fd
        }
        let fd = Glibc.open("/proc/self/fd/\(held)", (image.flags & (O_ACCMODE | O_NONBLOCK)) | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("opening the message queue \(queue.name) again for fd \(image.fd) of pid \(context.pid)") }
        return .local(fd)
    }

    /// The queue by its name when it is there; otherwise made, filled and
    /// given its owner (made under a name of crtool's and removed at once
    /// for one unlinked at the dump). `made`: a queue by name this restore
    /// made, to remove if it fails.
    private static func findOrMake(_ q: MessageQueueState, pid: Int32) throws -> (fd: Int32, made: Bool) {
        if !q.unlinked, let fd = try? MessageQueueOps.open(q.name, flags: O_RDWR | O_CLOEXEC) { return (fd, false) }
        let name = q.unlinked ? "/crtool-\(getpid())-\(UInt64.random(in: 0...UInt64.max))" : q.name
        let fd = try MessageQueueOps.open(name, flags: O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode: q.mode,
                                          maxMessages: q.maxMessages, messageSize: q.messageSize)
        do {
            for m in q.messages { try MessageQueueOps.send(fd, MessageQueueOps.Message(priority: m.priority, bytes: [UInt8](m.data))) }
            // mq_open's mode passed through crtool's umask.
            guard fchown(fd, q.uid, q.gid) == 0, fchmod(fd, mode_t(q.mode)) == 0 else {
                throw SystemError("giving the message queue \(q.name) of pid \(pid) its owner \(q.uid):\(q.gid) and mode \(String(q.mode, radix: 8))")
            }
            if q.unlinked { try MessageQueueOps.unlink(name) }
        } catch {
            close(fd)
            try? MessageQueueOps.unlink(name)
            throw error
        }
        return (fd, !q.unlinked)
    }
}
