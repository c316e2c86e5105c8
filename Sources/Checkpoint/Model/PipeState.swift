import Foundation

/// The saved state of one pipe or FIFO descriptor (see Resources/Pipes.swift).
public struct PipeState: Codable, Equatable, Sendable {
    /// F_GETPIPE_SZ: the restored pipe gets the same capacity, so a writer
    /// blocks at the same fill level as before.
    public var capacity: Int
    /// The bytes buffered in the pipe at dump time, in order. Saved with
    /// every descriptor that can read them (nil on write-only ends: the
    /// bytes belong to the pipe, and are put back once per pipe).
    public var data: Data?
    /// For a pipe in packet mode (O_DIRECT), the length of each packet
    /// in `data`, in order: each read of the pipe takes one packet, and
    /// drops what of it does not fit the reader's buffer. Nil for a pipe
    /// of bytes.
    public var packets: [Int]?

    public init(capacity: Int, data: Data? = nil) {
        self.capacity = capacity
        self.data = data
    }

    /// O_DIRECT on x86-64, which on a pipe's description is packet mode:
    /// each of its writes is a packet.
    public static let packetModeFlag: Int32 = 0o40000

    /// The largest packet a pipe holds: a write in packet mode is cut
    /// into buffers of a page each, and each is a packet.
    public static let largestPacket = 4096

    /// The field of packets that does not describe `data`, and why (nil
    /// when they do, or the pipe holds bytes): each packet is 1 to 4096
    /// bytes, they cover `data` exactly, and there are no more of them
    /// than the pipe has buffers.
    public var invalidPacketsField: (field: String, reason: String)? {
        guard let packets else { return nil }
        if let bad = packets.firstIndex(where: { $0 < 1 || $0 > Self.largestPacket }) {
            return ("packets[\(bad)]", "\(packets[bad]) is not the length of a packet (1 to \(Self.largestPacket) bytes)")
        }
        let total = packets.reduce(0) { $0 + $1 }
        if total != data?.count ?? 0 {
            return ("packets", "packets of \(total) bytes in all for \(data?.count ?? 0) bytes of data")
        }
        let buffers = max(capacity, 0) / Self.largestPacket
        if packets.count > buffers {
            return ("packets", "\(packets.count) packets in a pipe of \(capacity) bytes, which holds at most \(buffers)")
        }
        return nil
    }
}
