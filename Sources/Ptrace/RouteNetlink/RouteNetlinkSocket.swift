import Glibc

/// One message of a netlink answer: its type and what follows its header.
public struct NetlinkMessage: Equatable, Sendable {
    public var type: UInt16
    public var body: [UInt8]

    public init(type: UInt16, body: [UInt8]) {
        self.type = type
        self.body = body
    }
}

/// An rtnetlink socket (NETLINK_ROUTE) of the network namespace the
/// calling thread is in when it is made: it answers for that namespace
/// for as long as it is open, wherever the thread goes after. Devices,
/// addresses and routes are read and made through it, as `ip` does.
public final class RouteNetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32 = 0

    public init() throws {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) // NETLINK_ROUTE
        if fd < 0 { throw SystemError("netlink route socket") }
        // The kernel names the request an error answers (NETLINK_EXT_ACK).
        var one: Int32 = 1
        _ = setsockopt(fd, 270, 11, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit { close(fd) }

    static let error: UInt16 = 2
    static let done: UInt16 = 3
    static let request: UInt16 = 0x1
    static let acknowledge: UInt16 = 0x4
    static let dumpAll: UInt16 = 0x300

    /// Every message a dump request (RTM_GET* with NLM_F_DUMP) answers.
    public func dump(_ type: UInt16, _ body: [UInt8], what: String) throws -> [NetlinkMessage] {
        let seq = try send(type, flags: Self.request | Self.dumpAll, body, what: what)
        var found: [NetlinkMessage] = []
        while true {
            for message in try receive(what: what, sequence: seq) {
                if message.type == Self.done { return found }
                found.append(message)
            }
        }
    }

    /// Sends a request that changes something (RTM_NEW*, RTM_DEL*) and
    /// waits for the kernel's acknowledgement; `flags` beside
    /// NLM_F_REQUEST and NLM_F_ACK (NLM_F_CREATE, NLM_F_EXCL).
    public func change(_ type: UInt16, flags: UInt16 = 0, _ body: [UInt8], what: String) throws {
        let seq = try send(type, flags: Self.request | Self.acknowledge | flags, body, what: what)
        while true {
            // receive throws for an error answer; an error of 0 is the acknowledgement.
            if try receive(what: what, sequence: seq).contains(where: { $0.type == Self.error }) { return }
        }
    }

    /// Sends a request with one answer (RTM_GETNSID) and returns it.
    public func ask(_ type: UInt16, _ body: [UInt8], what: String) throws -> NetlinkMessage {
        let seq = try send(type, flags: Self.request, body, what: what)
        while true {
            if let answer = try receive(what: what, sequence: seq).first { return answer }
        }
    }

    private func send(_ type: UInt16, flags: UInt16, _ body: [UInt8], what: String) throws -> UInt32 {
        sequence &+= 1
        let message = [UInt8].le(UInt32(16 + body.count)) + [UInt8].le(type, flags) + [UInt8].le(sequence, UInt32(0)) + body
        let sent = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        if sent != message.count { throw SystemError("sending the netlink request to \(what)") }
        return sequence
    }

    /// The messages of one datagram that answer request `sequence`; an
    /// error answer other than the acknowledgement is thrown.
    private func receive(what: String, sequence: UInt32) throws -> [NetlinkMessage] {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError("reading the netlink answer to \(what)") }
        return try Self.parse(Array(buffer.prefix(n)), what: what).filter { $0.sequence == sequence }.map(\.message)
    }

    /// Splits one datagram into its messages. An error message with a
    /// code other than 0 is thrown, with the text the kernel gave, if any.
    static func parse(_ data: [UInt8], what: String) throws -> [(message: NetlinkMessage, sequence: UInt32)] {
        var messages: [(NetlinkMessage, UInt32)] = []
        var offset = 0
        while offset + 16 <= data.count {
            let length = Int(data.le(UInt32.self, at: offset))
            guard length >= 16, offset + length <= data.count else {
                throw SystemError("a netlink answer to \(what) of \(length) bytes", errno: EPROTO)
            }
            let type = data.le(UInt16.self, at: offset + 4)
            let flags = data.le(UInt16.self, at: offset + 6)
            let body = Array(data[(offset + 16)..<(offset + length)])
            if type == error {
                let code = body.count >= 4 ? Int32(bitPattern: body.le(UInt32.self, at: 0)) : -EPROTO
                if code != 0 {
                    let reason = Self.extendedReason(body, flags: flags).map { " (\($0))" } ?? ""
                    throw SystemError("\(what)\(reason)", errno: -code)
                }
            }
            messages.append((NetlinkMessage(type: type, body: body), data.le(UInt32.self, at: offset + 8)))
            offset += (length + 3) & ~3
        }
        return messages
    }

    /// NLMSGERR_ATTR_MSG of an error answer: the error code, the request's
    /// header (and its body unless NLM_F_CAPPED), then attributes.
    private static func extendedReason(_ body: [UInt8], flags: UInt16) -> String? {
        guard flags & 0x200 != 0, body.count >= 20 else { return nil } // NLM_F_ACK_TLVS
        let requestLength = Int(body.le(UInt32.self, at: 4))
        let start = 4 + (flags & 0x100 != 0 ? 16 : requestLength) // NLM_F_CAPPED
        guard start <= body.count, let text = NetlinkAttributes(body, from: start)[1] else { return nil }
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }
}
