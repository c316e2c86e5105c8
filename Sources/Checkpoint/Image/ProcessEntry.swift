/// One process of the dumped tree: the ids restore must recreate and the
/// relations it must rebuild.
public struct ProcessEntry: Codable, Equatable, Sendable {
    public var pid: Int32
    public var ppid: Int32
    public var pgid: Int32
    public var sid: Int32
    /// Every thread, the main thread (tid == pid) included.
    public var tids: [Int32]
    /// The command name (comm), for messages and `crtool show`.
    public var command: String

    public init(pid: Int32, ppid: Int32, pgid: Int32, sid: Int32, tids: [Int32], command: String) {
        self.pid = pid
        self.ppid = ppid
        self.pgid = pgid
        self.sid = sid
        self.tids = tids
        self.command = command
    }
}
