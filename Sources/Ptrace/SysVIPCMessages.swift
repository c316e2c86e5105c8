import CSupport
import Glibc

/// A System V message queue as IPC_STAT shows it.
public struct SysVMessageQueueStatus: Equatable, Sendable {
    public var id: Int32
    public var ownership: SysVOwnership
    public var messages: UInt64
    public var bytes: UInt64
    /// msg_qbytes: how many bytes of messages the queue may hold.
    public var maxBytes: UInt64
}

/// One queued message: its type (always positive) and its bytes.
public struct SysVMessage: Equatable, Sendable {
    public var type: Int
    public var text: [UInt8]

    public init(type: Int, text: [UInt8]) {
        self.type = type
        self.text = text
    }
}

/// msgget/msgctl/msgsnd/msgrcv for crtool's own use, with typed results.
public enum SysVMessageQueue {
    static let noWait: UInt64 = 0o4000 // IPC_NOWAIT
    static let copy: UInt64 = 0o40000  // MSG_COPY

    public static func status(id: Int32) throws -> SysVMessageQueueStatus {
        var ds = msqid_ds()
        let r = withUnsafeMutablePointer(to: &ds) {
            SysVIPC.raw(Syscall.msgctl, id, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: $0)))
        }
        if r < 0 { throw SystemError("IPC_STAT of System V message queue \(id)") }
        return SysVMessageQueueStatus(id: id, ownership: SysVOwnership(ds.msg_perm), messages: UInt64(ds.msg_qnum),
                                      bytes: UInt64(ds.__msg_cbytes), maxBytes: UInt64(ds.msg_qbytes))
    }

    /// The largest message this namespace accepts (kernel.msgmax).
    public static func maxMessageSize() -> Int {
        let text = (try? ProcFile.text("/proc/sys/kernel/msgmax")) ?? ""
        return Int(text.filter { $0.isNumber }) ?? 8192
    }

    private static let startCapacity = max(maxMessageSize(), 1)

    /// A copy of the message at `index` (0 is the oldest), left in the
    /// queue (MSG_COPY); nil past the last one.
    public static func copy(id: Int32, index: Int) throws -> SysVMessage? {
        var capacity = startCapacity
        while true {
            var buffer = [UInt8](repeating: 0, count: 8 + capacity)
            let r = buffer.withUnsafeMutableBytes {
                cr_syscall6(Int(Syscall.msgrcv), UInt64(UInt32(bitPattern: id)), UInt64(UInt(bitPattern: $0.baseAddress)),
                            UInt64(capacity), UInt64(index), noWait | copy, 0)
            }
            if r >= 0 {
                return SysVMessage(type: buffer.le(Int.self, at: 0), text: Array(buffer[8..<(8 + r)]))
            }
            let e = errno
            if e == ENOMSG { return nil }
            if e == E2BIG && capacity < 1 << 26 {
                capacity *= 4
                continue
            }
            throw SystemError("copying message \(index) of System V message queue \(id)", errno: e)
        }
    }

    /// A new queue under `key`, mode 0600 until set.
    public static func create(key: Int32) throws -> Int32 {
        let r = SysVIPC.raw(Syscall.msgget, key, UInt64(SysVIPC.create | SysVIPC.exclusive | 0o600))
        if r < 0 { throw SystemError("msgget with key \(SysVIPC.keyText(key))") }
        return Int32(r)
    }

    /// Queues a message at the end, without waiting for room.
    public static func send(id: Int32, _ message: SysVMessage) throws {
        let buffer = [UInt8].le(message.type) + message.text
        let r = buffer.withUnsafeBytes {
            cr_syscall6(Int(Syscall.msgsnd), UInt64(UInt32(bitPattern: id)), UInt64(UInt(bitPattern: $0.baseAddress)),
                        UInt64(message.text.count), noWait, 0, 0)
        }
        if r < 0 { throw SystemError("msgsnd of \(message.text.count) bytes to System V message queue \(id)") }
    }

    /// IPC_SET: owner, group, the nine permission bits and msg_qbytes.
    public static func setOwnership(id: Int32, uid: UInt32, gid: UInt32, mode: UInt32, maxBytes: UInt64) throws {
        var ds = msqid_ds()
        try withUnsafeMutablePointer(to: &ds) { p in
            if SysVIPC.raw(Syscall.msgctl, id, UInt64(SysVIPC.stat), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_STAT of System V message queue \(id)")
            }
            p.pointee.msg_perm.uid = uid
            p.pointee.msg_perm.gid = gid
            p.pointee.msg_perm.mode = mode & 0o777
            p.pointee.msg_qbytes = msglen_t(maxBytes)
            if SysVIPC.raw(Syscall.msgctl, id, UInt64(SysVIPC.set), UInt64(UInt(bitPattern: p))) < 0 {
                throw SystemError("IPC_SET of System V message queue \(id)")
            }
        }
    }
}
