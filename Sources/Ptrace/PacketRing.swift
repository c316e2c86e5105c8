import Glibc

/// The shape of a packet socket's ring, as PACKET_RX_RING took it
/// (struct tpacket_req3) and packet_diag tells it back.
public struct PacketRingGeometry: Codable, Equatable, Sendable {
    public var blockSize: UInt32
    public var blockCount: UInt32
    public var frameSize: UInt32
    public var frameCount: UInt32
    /// TPACKET_V3: milliseconds after which the kernel hands over a block
    /// that is not full.
    public var retireTimeout: UInt32
    /// TPACKET_V3: bytes of each block the program keeps for itself.
    public var privateSize: UInt32
    /// TPACKET_V3: TP_FT_REQ_FILL_RXHASH.
    public var features: UInt32

    public init(blockSize: UInt32, blockCount: UInt32, frameSize: UInt32, frameCount: UInt32,
                retireTimeout: UInt32 = 0, privateSize: UInt32 = 0, features: UInt32 = 0) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.frameSize = frameSize
        self.frameCount = frameCount
        self.retireTimeout = retireTimeout
        self.privateSize = privateSize
        self.features = features
    }

    /// struct packet_diag_ring, which has the fields in tpacket_req3's order.
    init?(diag payload: [UInt8]) {
        guard payload.count >= 28 else { return nil }
        self.init(blockSize: payload.le(UInt32.self, at: 0), blockCount: payload.le(UInt32.self, at: 4),
                  frameSize: payload.le(UInt32.self, at: 8), frameCount: payload.le(UInt32.self, at: 12),
                  retireTimeout: payload.le(UInt32.self, at: 16), privateSize: payload.le(UInt32.self, at: 20),
                  features: payload.le(UInt32.self, at: 24))
    }

    /// The bytes the ring spans, which is what a mapping of it must be.
    public var size: Int { Int(blockSize) * Int(blockCount) }

    /// struct tpacket_req3 for setsockopt(PACKET_RX_RING).
    public var request: [UInt8] {
        [UInt8].le(blockSize, blockCount, frameSize, frameCount) + [UInt8].le(retireTimeout, privateSize, features)
    }
}

/// A packet socket's ring mapped into crtool, to read it at a dump and
/// fill it at a restore. The kernel writes frames into it while crtool
/// looks, so the bytes are copied out and in, never handed to Swift code
/// in place.
public final class PacketRingMapping {
    public let size: Int
    private let base: UnsafeMutableRawPointer

    /// Maps the whole ring of socket `fd` (the kernel takes nothing less);
    /// `what` names the socket in errors.
    public init(socket fd: Int32, size: Int, writable: Bool, what: String) throws {
        precondition(size > 0)
        let protection = PROT_READ | (writable ? PROT_WRITE : 0)
        guard let address = mmap(nil, size, protection, MAP_SHARED, fd, 0), address != MAP_FAILED else {
            throw SystemError("mmap of the \(size)-byte ring of \(what)")
        }
        self.size = size
        base = address
    }

    deinit {
        munmap(base, size)
    }

    public func read(_ range: Range<Int>) -> [UInt8] {
        precondition(range.lowerBound >= 0 && range.upperBound <= size)
        guard !range.isEmpty else { return [] }
        return [UInt8](unsafeUninitializedCapacity: range.count) { buffer, count in
            memcpy(buffer.baseAddress!, base + range.lowerBound, range.count)
            count = range.count
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int) {
        precondition(offset >= 0 && offset + bytes.count <= size)
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { _ = memcpy(base + offset, $0.baseAddress!, bytes.count) }
    }
}
