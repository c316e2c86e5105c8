import Foundation
import Ptrace

/// A packet socket's receive ring as its program saw it at the dump: of
/// TPACKET_V3, blocks of frames (see Resources/PacketRingBlocks.swift), or
/// of TPACKET_V1 and V2, a frame to a slot (Resources/PacketRingFrames.swift).
/// The kernel keeps to itself where it writes next and starts a new ring
/// at its first block, so the image says which block was next and the
/// restore turns the ring until that block is the kernel's first; the
/// program, which keeps its own place, reads on where it was.
public struct PacketRingImage: Codable, Equatable, Sendable {
    public var geometry: PacketRingGeometry
    /// The block the kernel fills next, by its place in the ring at the
    /// dump (of V3, the block it was filling, or the one after it once
    /// that one is handed to the program; of V1 and V2, the block whose
    /// first frame it writes next).
    public var nextBlock: Int
    /// Every block by its place at the dump. Of V3: of a block the
    /// program owns (frames it has not read, or is reading), every byte in
    /// use; of the others, its descriptor and the program's private area,
    /// all the program looks at there. Of V1 and V2: the block's frames up
    /// to the end of the last one the program owns, the others in between
    /// zero; nothing when it owns none.
    public var blocks: [Data]
    /// The header before each frame of a V1 or V2 ring; nil for V3.
    public var frameHeader: PacketFrameHeader?

    public init(geometry: PacketRingGeometry, nextBlock: Int, blocks: [Data], frameHeader: PacketFrameHeader? = nil) {
        self.geometry = geometry
        self.nextBlock = nextBlock
        self.blocks = blocks
        self.frameHeader = frameHeader
    }

    /// Rings larger than this are refused as hostile: a capture tool's
    /// is a few MiB.
    public static let largestRing = 1 << 30

    /// What in a ring read from an image could not be made again, or
    /// would write outside the ring's blocks.
    public var invalidField: (field: String, reason: String)? {
        let g = geometry
        guard g.blockSize >= 48, g.blockSize % 4096 == 0, g.blockCount > 0, g.size <= Self.largestRing else {
            return ("geometry", "\(g.blockCount) blocks of \(g.blockSize) bytes is not a ring crtool makes")
        }
        if let header = frameHeader, !header.fitsSlots(of: g) {
            return ("geometry", "\(g.frameCount) frames of \(g.frameSize) bytes do not fill \(g.blockCount) blocks of \(g.blockSize) bytes")
        }
        guard blocks.count == Int(g.blockCount) else {
            return ("blocks", "\(blocks.count) blocks for a ring of \(g.blockCount)")
        }
        if let i = blocks.firstIndex(where: { $0.count > Int(g.blockSize) }) {
            return ("blocks[\(i)]", "\(blocks[i].count) bytes for a block of \(g.blockSize)")
        }
        guard nextBlock >= 0, nextBlock < blocks.count else {
            return ("nextBlock", "\(nextBlock) is not a block of the ring")
        }
        return nil
    }
}

/// The header the kernel writes before each frame of a TPACKET_V1 ring
/// (struct tpacket_hdr) or a V2 one (struct tpacket2_hdr): where its
/// fields are.
public enum PacketFrameHeader: String, Codable, Sendable {
    case v1, v2

    /// Its size, rounded as TPACKET_ALIGN rounds it.
    public var size: Int { 32 }
    var snapLengthOffset: Int { self == .v1 ? 12 : 8 }
    var macOffset: Int { self == .v1 ? 16 : 12 }
    var networkOffset: Int { self == .v1 ? 18 : 14 }
    /// Seconds, then microseconds (V1) or nanoseconds (V2).
    var timeOffset: Int { self == .v1 ? 20 : 16 }

    /// Whether `g` gives each frame a slot this header fits in, as many
    /// to a block as fit, and as many frames as the blocks hold, as the
    /// kernel lays out a ring of V1 or V2.
    public func fitsSlots(of g: PacketRingGeometry) -> Bool {
        g.frameSize >= UInt32(size) && g.frameSize <= g.blockSize
            && UInt64(g.frameCount) == UInt64(g.blockSize / g.frameSize) * UInt64(g.blockCount)
    }

    /// By PACKET_VERSION's value, as packet_diag gives it; nil for V3.
    public init?(version: UInt32) {
        switch version {
        case 0: self = .v1
        case 1: self = .v2
        default: return nil
        }
    }
}
