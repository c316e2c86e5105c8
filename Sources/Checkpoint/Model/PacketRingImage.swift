import Foundation
import Ptrace

/// A packet socket's TPACKET_V3 receive ring as its program saw it at the
/// dump (see Resources/PacketRingBlocks.swift). The kernel keeps to itself
/// which block it fills and starts a new ring at its first, so the image
/// says which block was next and the restore turns the ring until that
/// block is the kernel's first; the program, which keeps its own place,
/// reads on where it was.
public struct PacketRingImage: Codable, Equatable, Sendable {
    public var geometry: PacketRingGeometry
    /// The block the kernel fills next, by its place in the ring at the
    /// dump (the block it was filling, or the one after it once that one
    /// is handed to the program).
    public var nextBlock: Int
    /// Every block by its place at the dump: of a block the program owns
    /// (frames it has not read, or is reading), every byte in use; of the
    /// others, its descriptor and the program's private area, all the
    /// program looks at there.
    public var blocks: [Data]

    public init(geometry: PacketRingGeometry, nextBlock: Int, blocks: [Data]) {
        self.geometry = geometry
        self.nextBlock = nextBlock
        self.blocks = blocks
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
