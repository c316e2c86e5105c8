import Foundation

/// A POSIX message queue a descriptor was open on: its name in its IPC
/// namespace, who owns it, its sizes and the messages it held, in the
/// order a reader gets them. A queue lives on after its last user, so a
/// restore on the same host finds it again by name; one gone (another
/// host, a reboot, an mq_unlink) is made again from this.
public struct MessageQueueState: Codable, Equatable, Sendable {
    /// "/queue", as mq_open takes it.
    public var name: String
    /// Removed with mq_unlink while open: made again under a name of its
    /// own and removed at once, so nobody else finds it.
    public var unlinked: Bool
    /// Permission bits, owner and group.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var maxMessages: Int
    public var messageSize: Int
    public var messages: [QueuedMessage]

    public init(name: String, unlinked: Bool, mode: UInt32, uid: UInt32, gid: UInt32, maxMessages: Int, messageSize: Int,
                messages: [QueuedMessage]) {
        self.name = name
        self.unlinked = unlinked
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.maxMessages = maxMessages
        self.messageSize = messageSize
        self.messages = messages
    }

    /// The first field a queue this kernel could have made would not have
    /// (HARD_MSGMAX, HARD_MSGSIZEMAX, MQ_PRIO_MAX, NAME_MAX), for the
    /// image check.
    public var invalidField: (field: String, reason: String)? {
        let bare = name.dropFirst()
        guard name.hasPrefix("/"), !bare.isEmpty, bare.utf8.count <= 255, !bare.contains("/"), !bare.utf8.contains(0) else {
            return ("name", "\(name) is not a message queue's name")
        }
        guard mode <= 0o7777 else { return ("mode", "\(mode) is not a file mode") }
        guard (1...65536).contains(maxMessages) else { return ("maxMessages", "\(maxMessages) is not a queue's size") }
        guard (1...(16 << 20)).contains(messageSize) else { return ("messageSize", "\(messageSize) is not a message size") }
        guard messages.count <= maxMessages else { return ("messages", "\(messages.count) messages in a queue of \(maxMessages)") }
        for (i, m) in messages.enumerated() where m.priority >= 32768 || m.data.count > messageSize {
            return ("messages[\(i)]", "priority \(m.priority) or \(m.data.count) bytes do not fit the queue")
        }
        return nil
    }
}

public struct QueuedMessage: Codable, Equatable, Sendable {
    public var priority: UInt32
    public var data: Data

    public init(priority: UInt32, data: Data) {
        self.priority = priority
        self.data = data
    }
}
