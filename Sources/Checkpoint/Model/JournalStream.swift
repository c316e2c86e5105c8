import Foundation

/// A stream to the system journal: the socket systemd gives a service as
/// its standard output and error, connected to journald's stdout socket.
/// journald knows a stream by the header it read when the stream was
/// connected, so the restore connects again and sends the same header.
public struct JournalStream: Codable, Equatable, Sendable {
    /// journald's socket the stream was connected to.
    public var socketPath: String
    /// SYSLOG_IDENTIFIER of every line.
    public var identifier: String
    /// The unit the lines are filed under (journald takes it only from
    /// a root peer); empty for none.
    public var unit: String
    /// Syslog priority of a line without a prefix, 0-7.
    public var priority: Int
    /// Whether "<N>" at the start of a line sets its priority.
    public var levelPrefix: Bool
    public var forwardToSyslog: Bool
    public var forwardToKmsg: Bool
    public var forwardToConsole: Bool

    public init(socketPath: String, identifier: String, unit: String = "", priority: Int = 6, levelPrefix: Bool = true,
                forwardToSyslog: Bool = false, forwardToKmsg: Bool = false, forwardToConsole: Bool = false) {
        self.socketPath = socketPath
        self.identifier = identifier
        self.unit = unit
        self.priority = priority
        self.levelPrefix = levelPrefix
        self.forwardToSyslog = forwardToSyslog
        self.forwardToKmsg = forwardToKmsg
        self.forwardToConsole = forwardToConsole
    }

    /// The header journald reads first on a stream, a line each.
    public var header: String {
        [identifier, unit, String(priority), levelPrefix ? "1" : "0",
         forwardToSyslog ? "1" : "0", forwardToKmsg ? "1" : "0", forwardToConsole ? "1" : "0"]
            .map { $0 + "\n" }.joined()
    }

    /// A header line holding a newline would shift every line after it:
    /// an image could file the service's lines under another unit.
    public var invalidField: (field: String, reason: String)? {
        if identifier.contains("\n") { return ("identifier", "holds a newline") }
        if unit.contains("\n") { return ("unit", "holds a newline") }
        if !(0...7).contains(priority) { return ("priority", "\(priority) is not a syslog priority (0-7)") }
        if !socketPath.hasPrefix("/") { return ("socketPath", "\"\(socketPath)\" is not an absolute path") }
        return nil
    }
}
