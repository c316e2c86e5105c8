import CSupport
import Glibc

/// POSIX message queues through their system calls: glibc's mq_open is
/// variadic, which Swift cannot call, and every call here must return at
/// once, so each takes a deadline already past instead of blocking.
public enum MessageQueueOps {
    /// mq_attr.
    public struct Attributes: Equatable, Sendable {
        public var flags: Int
        public var maxMessages: Int
        public var messageSize: Int
        public var currentMessages: Int
    }

    public struct Message: Equatable, Sendable {
        public var priority: UInt32
        public var bytes: [UInt8]

        public init(priority: UInt32, bytes: [UInt8]) {
            self.priority = priority
            self.bytes = bytes
        }
    }

    /// x86-64 system call numbers.
    private static let mqOpen = 240, mqUnlink = 241, mqTimedSend = 242, mqTimedReceive = 243, mqGetSetAttr = 245

    public static func attributes(_ fd: Int32) throws -> Attributes {
        var attr = [Int](repeating: 0, count: 8)
        let r = attr.withUnsafeMutableBytes { cr_syscall6(mqGetSetAttr, UInt64(fd), 0, UInt64(UInt(bitPattern: $0.baseAddress)), 0, 0, 0) }
        if r < 0 { throw SystemError("mq_getsetattr") }
        return Attributes(flags: attr[0], maxMessages: attr[1], messageSize: attr[2], currentMessages: attr[3])
    }

    /// Every message the queue on `fd` (open for reading and writing)
    /// holds, in the order a reader gets them: highest priority first,
    /// oldest first within one. A queue shows no message without giving
    /// it up, so each is taken off and all are put back at once in that
    /// order, which leaves the queue as it was; what was taken before a
    /// failure is put back too.
    public static func peek(_ fd: Int32, messageSize: Int) throws -> [Message] {
        var taken: [Message] = []
        var failure: Error?
        do { try drain(fd, messageSize: messageSize, into: &taken) } catch { failure = error }
        for (i, m) in taken.enumerated() {
            do {
                try send(fd, m)
            } catch {
                throw SystemError("putting back message \(i + 1) of \(taken.count) taken off the queue to read it "
                    + "(\(taken.count - i) lost)", errno: (error as? SystemError)?.errno ?? EIO)
            }
        }
        if let failure { throw failure }
        return taken
    }

    private static func drain(_ fd: Int32, messageSize: Int, into messages: inout [Message]) throws {
        var buffer = [UInt8](repeating: 0, count: max(messageSize, 1))
        var past = timespec(tv_sec: 0, tv_nsec: 0)
        while true {
            var priority: UInt32 = 0
            let n = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &priority) { p in
                    withUnsafePointer(to: &past) { t in
                        cr_syscall6(mqTimedReceive, UInt64(fd), UInt64(UInt(bitPattern: b.baseAddress)), UInt64(b.count),
                                    UInt64(UInt(bitPattern: p)), UInt64(UInt(bitPattern: t)), 0)
                    }
                }
            }
            if n < 0 {
                if errno == ETIMEDOUT || errno == EAGAIN { return }
                throw SystemError("mq_timedreceive")
            }
            messages.append(Message(priority: priority, bytes: Array(buffer[..<n])))
        }
    }

    /// Queues `message`; fails with ETIMEDOUT rather than wait on a full
    /// queue.
    public static func send(_ fd: Int32, _ message: Message) throws {
        var past = timespec(tv_sec: 0, tv_nsec: 0)
        let r = message.bytes.withUnsafeBytes { b in
            withUnsafePointer(to: &past) { t in
                cr_syscall6(mqTimedSend, UInt64(fd), UInt64(UInt(bitPattern: b.baseAddress)), UInt64(b.count), UInt64(message.priority),
                            UInt64(UInt(bitPattern: t)), 0)
            }
        }
        if r < 0 { throw SystemError("mq_timedsend of \(message.bytes.count) bytes") }
    }

    /// mq_open of `name` ("/queue") in the calling thread's IPC namespace;
    /// with O_CREAT, made with `mode` and the sizes given.
    public static func open(_ name: String, flags: Int32, mode: UInt32 = 0, maxMessages: Int = 0, messageSize: Int = 0) throws -> Int32 {
        var attr = [Int](repeating: 0, count: 8)
        attr[1] = maxMessages
        attr[2] = messageSize
        let bare = String(name.drop { $0 == "/" })
        let fd = bare.withCString { n in
            attr.withUnsafeBytes { a in
                cr_syscall6(mqOpen, UInt64(UInt(bitPattern: n)), UInt64(UInt32(bitPattern: flags)), UInt64(mode),
                            flags & O_CREAT != 0 ? UInt64(UInt(bitPattern: a.baseAddress)) : 0, 0, 0)
            }
        }
        if fd < 0 { throw SystemError("mq_open \(name)") }
        return Int32(fd)
    }

    public static func unlink(_ name: String) throws {
        let bare = String(name.drop { $0 == "/" })
        if bare.withCString({ cr_syscall6(mqUnlink, UInt64(UInt(bitPattern: $0)), 0, 0, 0, 0, 0) }) < 0 {
            throw SystemError("mq_unlink \(name)")
        }
    }

    /// The pid (as crtool's PID namespace numbers it) registered for a
    /// notification on the queue with mq_notify, or 0: what reading the
    /// queue's file shows ("QSIZE:... NOTIFY_PID:N"). Read at offset 0
    /// with pread, which leaves the descriptor's offset alone.
    public static func notificationOwner(_ fd: Int32) throws -> Int32 {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError("reading the state of a message queue") }
        let text = String(decoding: buffer[..<n], as: UTF8.self)
        guard let field = text.range(of: "NOTIFY_PID:") else { return 0 }
        return Int32(text[field.upperBound...].prefix { !$0.isWhitespace }) ?? 0
    }
}
