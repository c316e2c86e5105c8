/// The interest list of an epoll descriptor, from its fdinfo: one "tfd:"
/// line per watched descriptor (FdInfo keeps only the first of them).
public struct EpollWatch: Equatable, Sendable {
    /// The descriptor number the watch was added for, in the owner's table.
    public var fd: Int32
    /// The event mask as the kernel keeps it (EPOLLERR and EPOLLHUP always in).
    public var events: UInt32
    public var data: UInt64
    /// Inode and device of the watched file, to check that `fd` still is it.
    public var inode: UInt64
    public var device: UInt64

    public init(fd: Int32, events: UInt32, data: UInt64, inode: UInt64, device: UInt64) {
        self.fd = fd
        self.events = events
        self.data = data
        self.inode = inode
        self.device = device
    }
}

public enum EpollInfo {
    public static func read(pid: Int32, fd: Int32) throws -> [EpollWatch] {
        let file = "/proc/\(pid)/fdinfo/\(fd)"
        return try parse(ProcFile.text(file, pid: pid), file: file)
    }

    /// Lines look like
    /// `tfd:        5 events:       19 data:                5  pos:0 ino:2f sdev:9`.
    public static func parse(_ text: String, file: String = "fdinfo") throws -> [EpollWatch] {
        var watches: [EpollWatch] = []
        for line in text.split(separator: "\n") where line.hasPrefix("tfd:") {
            let fields = FdInfoFields.pairs(line)
            guard let fd = fields["tfd"].flatMap({ Int32($0) }),
                  let events = fields["events"].flatMap({ UInt32($0, radix: 16) }),
                  let data = fields["data"].flatMap({ UInt64($0, radix: 16) }),
                  let inode = fields["ino"].flatMap({ UInt64($0, radix: 16) }) else {
                throw ProcParseError(file: file, line: String(line), reason: "bad epoll watch")
            }
            let device = fields["sdev"].flatMap { UInt64($0, radix: 16) } ?? 0
            watches.append(EpollWatch(fd: fd, events: events, data: data, inode: inode, device: device))
        }
        return watches
    }
}

/// Splits an fdinfo line of "key: value" and "key:value" pairs.
enum FdInfoFields {
    static func pairs<S: StringProtocol>(_ line: S) -> [String: String] {
        var result: [String: String] = [:]
        var key: String?
        for token in line.split(separator: " ", omittingEmptySubsequences: true) {
            if let colon = token.firstIndex(of: ":") {
                let k = String(token[token.startIndex..<colon])
                let rest = token[token.index(after: colon)...]
                if rest.isEmpty {
                    key = k
                } else {
                    result[k] = String(rest)
                    key = nil
                }
            } else if let k = key {
                result[k] = String(token)
                key = nil
            }
        }
        return result
    }
}
