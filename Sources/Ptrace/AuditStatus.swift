import Glibc

/// The kernel audit subsystem's status (AUDIT_GET on a NETLINK_AUDIT
/// socket): which process is registered as the audit daemon, the one
/// process whose audit socket the kernel knows by its port id.
public enum AuditStatus {
    /// The registered audit daemon's pid; nil when none is registered.
    public static func daemonPID() throws -> Int32? {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 9) // NETLINK_AUDIT
        if fd < 0 { throw SystemError("netlink audit socket") }
        defer { close(fd) }
        // AUDIT_GET (1000), NLM_F_REQUEST, no payload.
        let message = [UInt8].le(UInt32(16)) + [UInt8].le(UInt16(1000), UInt16(1)) + [UInt8].le(UInt32(1), UInt32(0))
        let sent = message.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        if sent != message.count { throw SystemError("sending AUDIT_GET") }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError("reading the AUDIT_GET answer") }
        return try parse(Array(buffer.prefix(n)))
    }

    /// The answer: an error, or struct audit_status (mask, enabled,
    /// failure, pid, ...) after the 16-byte header.
    public static func parse(_ data: [UInt8]) throws -> Int32? {
        guard data.count >= 16 else { throw SystemError("an audit answer of \(data.count) bytes", errno: EPROTO) }
        let type = data.le(UInt16.self, at: 4)
        if type == 2 { // NLMSG_ERROR
            let code = data.count >= 20 ? Int32(bitPattern: data.le(UInt32.self, at: 16)) : -EPROTO
            throw SystemError("AUDIT_GET", errno: -code)
        }
        guard type == 1000, data.count >= 32 else { throw SystemError("an audit answer of type \(type), \(data.count) bytes", errno: EPROTO) }
        let pid = Int32(bitPattern: data.le(UInt32.self, at: 16 + 12))
        return pid == 0 ? nil : pid
    }
}
