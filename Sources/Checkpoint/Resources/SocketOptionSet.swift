import Foundation
import Glibc
import Ptrace

/// The socket options crtool saves and gives back: integers, and a few
/// that are structs or strings (read and set as bytes). A restored socket
/// is fresh, so only values that differ from a fresh socket's are set:
/// setting a buffer size, for one, turns off the kernel's own sizing.
enum SocketOptionSet {
    struct Option {
        var name: String
        var level: Int32
        var option: Int32
        /// For an option that is not an int: the most bytes it takes.
        var size: Int? = nil
    }

    /// struct timeval, which SO_RCVTIMEO and SO_SNDTIMEO take on x86-64.
    static let receiveTimeout = Option(name: "SO_RCVTIMEO", level: SOL_SOCKET, option: 20, size: 16)
    static let sendTimeout = Option(name: "SO_SNDTIMEO", level: SOL_SOCKET, option: 21, size: 16)

    static let reuseAddress = Option(name: "SO_REUSEADDR", level: SOL_SOCKET, option: SO_REUSEADDR)
    static let sendBuffer = Option(name: "SO_SNDBUF", level: SOL_SOCKET, option: SO_SNDBUF)
    static let receiveBuffer = Option(name: "SO_RCVBUF", level: SOL_SOCKET, option: SO_RCVBUF)

    /// What any socket may have set at the SOL_SOCKET level, beyond what
    /// its family adds.
    static let general: [Option] = [
        sendBuffer, receiveBuffer, receiveTimeout, sendTimeout,
        Option(name: "SO_PRIORITY", level: SOL_SOCKET, option: 12),
        Option(name: "SO_TIMESTAMP", level: SOL_SOCKET, option: 29),
        Option(name: "SO_LOCK_FILTER", level: SOL_SOCKET, option: 44),
    ]

    static let unix: [Option] = [
        Option(name: "SO_PASSCRED", level: SOL_SOCKET, option: SO_PASSCRED),
        Option(name: "SO_PASSSEC", level: SOL_SOCKET, option: 34),
        sendBuffer, receiveBuffer, receiveTimeout, sendTimeout,
        Option(name: "SO_LOCK_FILTER", level: SOL_SOCKET, option: 44),
    ]

    static func inet(tcp: Bool, ipv6: Bool) -> [Option] {
        var list = [
            reuseAddress,
            Option(name: "SO_REUSEPORT", level: SOL_SOCKET, option: SO_REUSEPORT),
            Option(name: "SO_KEEPALIVE", level: SOL_SOCKET, option: SO_KEEPALIVE),
            Option(name: "SO_BROADCAST", level: SOL_SOCKET, option: SO_BROADCAST),
            sendBuffer, receiveBuffer,
        ]
        let ip = Int32(IPPROTO_IP), ip6 = Int32(IPPROTO_IPV6), tcpLevel = Int32(IPPROTO_TCP)
        list += [
            Option(name: "SO_PRIORITY", level: SOL_SOCKET, option: 12),
            Option(name: "SO_MARK", level: SOL_SOCKET, option: 36),
            Option(name: "SO_RCVLOWAT", level: SOL_SOCKET, option: 18),
            Option(name: "SO_TIMESTAMP", level: SOL_SOCKET, option: 29),
            Option(name: "IP_TOS", level: ip, option: 1),
            Option(name: "IP_TTL", level: ip, option: 2),
            Option(name: "SO_OOBINLINE", level: SOL_SOCKET, option: 10),
            Option(name: "SO_DONTROUTE", level: SOL_SOCKET, option: 5),
            Option(name: "SO_TIMESTAMPNS", level: SOL_SOCKET, option: 35),
            Option(name: "SO_BUSY_POLL", level: SOL_SOCKET, option: 46),
            Option(name: "IP_FREEBIND", level: ip, option: 15),
            Option(name: "IP_TRANSPARENT", level: ip, option: 19),
            Option(name: "IP_BIND_ADDRESS_NO_PORT", level: ip, option: 24),
            Option(name: "IP_MTU_DISCOVER", level: ip, option: 10),
            Option(name: "IP_RECVTOS", level: ip, option: 13),
            Option(name: "IP_RECVTTL", level: ip, option: 12),
            receiveTimeout, sendTimeout,
            Option(name: "SO_LOCK_FILTER", level: SOL_SOCKET, option: 44),
            // struct linger; the interface name; set before the bind.
            Option(name: "SO_LINGER", level: SOL_SOCKET, option: SO_LINGER, size: 8),
            Option(name: "SO_BINDTODEVICE", level: SOL_SOCKET, option: 25, size: 16),
        ]
        if tcp {
            list += [
                Option(name: "TCP_NODELAY", level: tcpLevel, option: 1),
                Option(name: "TCP_KEEPIDLE", level: tcpLevel, option: 4),
                Option(name: "TCP_KEEPINTVL", level: tcpLevel, option: 5),
                Option(name: "TCP_KEEPCNT", level: tcpLevel, option: 6),
                Option(name: "TCP_DEFER_ACCEPT", level: tcpLevel, option: 9),
                Option(name: "TCP_FASTOPEN", level: tcpLevel, option: 23),
                Option(name: "TCP_USER_TIMEOUT", level: tcpLevel, option: 18),
                Option(name: "TCP_NOTSENT_LOWAT", level: tcpLevel, option: 25),
                Option(name: "TCP_WINDOW_CLAMP", level: tcpLevel, option: 10),
                Option(name: "TCP_SYNCNT", level: tcpLevel, option: 7),
                Option(name: "TCP_LINGER2", level: tcpLevel, option: 8),
                Option(name: "TCP_CONGESTION", level: tcpLevel, option: 13, size: 16),
            ]
        } else {
            list += [
                Option(name: "IP_PKTINFO", level: ip, option: 8),
                Option(name: "IP_RECVERR", level: ip, option: 11),
                Option(name: "IP_MULTICAST_TTL", level: ip, option: 33),
                Option(name: "IP_MULTICAST_LOOP", level: ip, option: 34),
                Option(name: "IP_MULTICAST_ALL", level: ip, option: 49),
            ]
        }
        if ipv6 {
            list.append(Option(name: "IPV6_V6ONLY", level: ip6, option: 26))
            list.append(Option(name: "IPV6_UNICAST_HOPS", level: ip6, option: 16))
            list.append(Option(name: "IPV6_TCLASS", level: ip6, option: 67))
            list.append(Option(name: "IPV6_MTU_DISCOVER", level: ip6, option: 23))
            list.append(Option(name: "IPV6_RECVERR", level: ip6, option: 25))
            list.append(Option(name: "IPV6_FREEBIND", level: ip6, option: 78))
            list.append(Option(name: "IPV6_TRANSPARENT", level: ip6, option: 75))
            if !tcp {
                list += [
                    Option(name: "IPV6_RECVPKTINFO", level: ip6, option: 49),
                    Option(name: "IPV6_MULTICAST_HOPS", level: ip6, option: 18),
                    Option(name: "IPV6_MULTICAST_LOOP", level: ip6, option: 19),
                ]
            }
        }
        return list
    }

    /// The values of `options` on `fd`; options the kernel does not know are left out.
    static func read(_ options: [Option], from fd: Int32) -> [SocketOptionValue] {
        options.compactMap { o in
            if let size = o.size {
                return (try? Sockets.bytesOption(fd, level: o.level, name: o.option, size: size)).map {
                    SocketOptionValue(name: o.name, level: o.level, option: o.option, value: 0, bytes: Data($0))
                }
            }
            return (try? Sockets.intOption(fd, level: o.level, name: o.option)).map {
                SocketOptionValue(name: o.name, level: o.level, option: o.option, value: $0)
            }
        }
    }

    /// The classic BPF filter attached to a socket, as an option value; an
    /// eBPF filter refuses the dump (the kernel cannot give it back).
    static let filterOption: Int32 = 26 // SO_ATTACH_FILTER

    static func filter(of fd: Int32, what: String) throws -> SocketOptionValue? {
        do {
            return try Sockets.classicFilter(fd).map {
                SocketOptionValue(name: "SO_ATTACH_FILTER", level: SOL_SOCKET, option: filterOption, value: 0, bytes: Data($0))
            }
        } catch let e as SystemError where e.errno == EACCES {
            throw CheckpointError("\(what) has an eBPF socket filter (SO_ATTACH_BPF), which the kernel cannot give back; crtool cannot checkpoint it")
        }
    }

    /// Sets every value in `values` that `fd` does not have already; a
    /// filter first, since SO_LOCK_FILTER forbids attaching one after it.
    static func apply(_ values: [SocketOptionValue], to fd: Int32) throws {
        for v in values where v.level == SOL_SOCKET && v.option == filterOption {
            guard let bytes = v.bytes, !bytes.isEmpty, bytes.count % 8 == 0, bytes.count / 8 <= 4096 else {
                throw CheckpointError("SO_ATTACH_FILTER in the image holds \(v.bytes?.count ?? 0) bytes, not a classic BPF program")
            }
            try Sockets.attachClassicFilter(fd, [UInt8](bytes))
        }
        for v in values where !(v.level == SOL_SOCKET && v.option == filterOption) {
            do {
                try set(v, on: fd)
            } catch let e as SystemError {
                // This host may lack what the option names (an interface
                // for SO_BINDTODEVICE, a TCP_CONGESTION algorithm).
                throw CheckpointError("cannot give the restored socket its \(v.name)\(v.bytes.flatMap(describe).map { " (\($0))" } ?? ""): \(e.errnoName)")
            }
        }
    }

    private static func set(_ v: SocketOptionValue, on fd: Int32) throws {
        if let bytes = v.bytes {
            let wanted = [UInt8](bytes)
            let current = try? Sockets.bytesOption(fd, level: v.level, name: v.option, size: max(wanted.count, 1))
            if current == wanted || (wanted.allSatisfy { $0 == 0 } && (current ?? []).allSatisfy { $0 == 0 }) { return }
            try Sockets.setBytesOption(fd, level: v.level, name: v.option, wanted)
            return
        }
        if let current = try? Sockets.intOption(fd, level: v.level, name: v.option), current == v.value { return }
        if v.level == SOL_SOCKET && (v.option == SO_SNDBUF || v.option == SO_RCVBUF) {
            try setBuffer(fd, option: v.option, bytes: v.value)
        } else {
            try Sockets.setIntOption(fd, level: v.level, name: v.option, v.value)
        }
    }

    /// A string option's text (an interface, an algorithm), for errors.
    private static func describe(_ bytes: Data) -> String? {
        let text = bytes.prefix { $0 != 0 }
        guard !text.isEmpty, text.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return nil }
        return String(decoding: text, as: UTF8.self)
    }

    /// Buffer sizes read back doubled (the kernel's bookkeeping share), so
    /// half is set; the FORCE variants let root pass the sysctl maximum.
    static func setBuffer(_ fd: Int32, option: Int32, bytes: Int32) throws {
        let force = option == SO_SNDBUF ? SO_SNDBUFFORCE : SO_RCVBUFFORCE
        try Sockets.setIntOption(fd, level: SOL_SOCKET, name: force, max(bytes / 2, 1))
    }
}
