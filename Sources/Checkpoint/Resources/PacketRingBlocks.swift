import Foundation
import Ptrace

/// The blocks of a TPACKET_V3 receive ring, as the kernel lays them out
/// and libpcap reads them. The kernel fills one block at a time with
/// frames, hands it to the program by setting TP_STATUS_USER in its
/// descriptor when it is full or its timeout ends, and goes on with the
/// next, which the program must have given back (TP_STATUS_KERNEL, 0);
/// every block it opens gets the next sequence number, so the highest one
/// is the block it fills.
///
/// A restored socket's kernel starts at its first block again, with
/// nothing in it: `save` therefore hands over the frames of the block
/// being filled as the timeout would have (the program reads them, in
/// order, before the frames that come after), and names the block the
/// kernel goes on with, which must be free.
enum PacketRingBlocks {
    /// struct tpacket_block_desc: version, offset_to_priv, then
    /// tpacket_hdr_v1.
    static let descriptorSize = 48
    static let statusOffset = 8
    static let frameCountOffset = 12
    static let firstFrameOffset = 16
    static let lengthOffset = 20
    static let sequenceOffset = 24
    static let lastFrameTimeOffset = 40
    /// TP_STATUS_USER: the program owns the block.
    static let userOwned: UInt32 = 1
    /// TP_STATUS_BLK_TMO: handed over by the timeout, not full.
    static let closedByTimeout: UInt32 = 1 << 5

    /// Why a ring cannot be saved, to be told with the socket's name.
    struct Refusal: Error {
        let reason: String
    }

    /// Saves `ring`, read whole in the kernel's order.
    static func save(_ ring: [UInt8], geometry: PacketRingGeometry) throws(Refusal) -> PacketRingImage {
        let count = Int(geometry.blockCount)
        let size = Int(geometry.blockSize)
        guard count > 0, size >= descriptorSize, ring.count == count * size else {
            throw Refusal(reason: "its ring of \(geometry.blockCount) blocks of \(geometry.blockSize) bytes is not laid out as TPACKET_V3")
        }
        var blocks = (0..<count).map { Array(ring[($0 * size)..<(($0 + 1) * size)]) }
        func status(_ i: Int) -> UInt32 { blocks[i].le(UInt32.self, at: statusOffset) }
        let sequences = blocks.map { $0.le(UInt64.self, at: sequenceOffset) }
        let filling = sequences.indices.max { sequences[$0] < sequences[$1] }!
        var next = filling
        if status(filling) & userOwned != 0 {
            // Handed over: the kernel waits for the program to give back
            // the block after it.
            next = (filling + 1) % count
        } else if blocks[filling].le(UInt32.self, at: frameCountOffset) > 0 {
            blocks[filling] = try handedOver(blocks[filling], index: filling)
            next = (filling + 1) % count
        }
        if status(next) & userOwned != 0 {
            throw Refusal(reason: "its ring is full: the program has not read the frames of any block, and a restored kernel starts in a free one; dump again once it has read some")
        }
        let saved = blocks.indices.map { i -> Data in
            let block = blocks[i]
            let inUse = status(i) & userOwned != 0 ? Int(block.le(UInt32.self, at: lengthOffset))
                : Int(block.le(UInt32.self, at: firstFrameOffset))
            return Data(block[0..<min(max(inUse, descriptorSize), size)])
        }
        return PacketRingImage(geometry: geometry, nextBlock: next, blocks: saved)
    }

    /// Whether the program owns `block`, as saved.
    static func isHeld(_ block: Data) -> Bool {
        block.count >= statusOffset + 4 && [UInt8](block.prefix(statusOffset + 4)).le(UInt32.self, at: statusOffset) & userOwned != 0
    }

    /// `block` handed to the program as the kernel's timeout does it: the
    /// last frame links to nothing, its time is the block's last, and the
    /// program owns the block.
    private static func handedOver(_ block: [UInt8], index: Int) throws(Refusal) -> [UInt8] {
        var block = block
        let frames = Int(block.le(UInt32.self, at: frameCountOffset))
        var at = Int(block.le(UInt32.self, at: firstFrameOffset))
        func linked() -> Bool { at >= descriptorSize && at + 12 <= block.count }
        for _ in stride(from: 1, to: frames, by: 1) {
            let step = linked() ? Int(block.le(UInt32.self, at: at)) : 0
            guard step > 0 else { at = -1; break }
            at += step
        }
        guard linked() else {
            throw Refusal(reason: "the frames of block \(index) of its ring, which the kernel was filling, do not link up")
        }
        block.replaceSubrange(at..<(at + 4), with: [UInt8].le(UInt32(0)))
        block.replaceSubrange(lastFrameTimeOffset..<(lastFrameTimeOffset + 8), with: Array(block[(at + 4)..<(at + 12)]))
        block.replaceSubrange(statusOffset..<(statusOffset + 4), with: [UInt8].le(userOwned | closedByTimeout))
        return block
    }

    /// Where each saved block goes in a ring the kernel has just made, by
    /// offset: turned so that `nextBlock` is the first. Of the first only
    /// the program's private area goes back: its descriptor is the one
    /// the kernel opened it with. The others get sequence number 0, as
    /// blocks not yet opened have: the kernel numbers blocks from 1 again,
    /// and the block it fills must stay the one with the highest number.
    static func placements(_ image: PacketRingImage) -> [(offset: Int, bytes: [UInt8])] {
        let count = image.blocks.count
        let first = [UInt8](image.blocks[image.nextBlock].dropFirst(descriptorSize))
        let privateArea = first.isEmpty ? [] : [(offset: descriptorSize, bytes: first)]
        return privateArea + image.blocks.indices.filter { $0 != image.nextBlock }.map { i in
            var bytes = [UInt8](image.blocks[i])
            if bytes.count >= sequenceOffset + 8 {
                bytes.replaceSubrange(sequenceOffset..<(sequenceOffset + 8), with: [UInt8](repeating: 0, count: 8))
            }
            return (((i - image.nextBlock + count) % count) * Int(image.geometry.blockSize), bytes)
        }
    }

    /// A VMA that mapped the ring from `offset` at the dump, for `length`
    /// bytes, as moves from a mapping of the turned ring: from each
    /// `source` offset there, `length` bytes go to `at` bytes into the VMA.
    /// A VMA that ran through the block the restore makes first wraps
    /// around the ring's end and takes two.
    static func pieces(offset: UInt64, length: UInt64, of image: PacketRingImage) -> [(source: UInt64, at: UInt64, length: UInt64)] {
        let size = UInt64(image.geometry.size)
        let turn = UInt64(image.nextBlock) * UInt64(image.geometry.blockSize)
        let source = (offset + size - turn) % size
        let first = min(length, size - source)
        var pieces = [(source: source, at: UInt64(0), length: first)]
        if first < length { pieces.append((source: 0, at: first, length: length - first)) }
        return pieces
    }
}

extension PacketRingImage {
    /// What the program owns: of V3, blocks, the one the dump handed it
    /// included; of V1 and V2, frames.
    public var heldByProgram: Int {
        frameHeader.map { PacketRingFrames.held(in: self, header: $0) } ?? blocks.filter(PacketRingBlocks.isHeld).count
    }
}
