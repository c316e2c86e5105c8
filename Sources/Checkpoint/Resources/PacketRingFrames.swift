import Foundation
import Ptrace

/// The frames of a TPACKET_V1 or V2 receive ring, as the kernel lays them
/// out and libpcap reads them in its immediate mode: a slot of
/// `frameSize` bytes per frame, as many to a block as fit, each starting
/// with a header whose status says who owns it. The kernel writes frames
/// into the slots in order, each only once the program has given it back
/// (TP_STATUS_KERNEL, 0), and hands each to the program as it is written
/// (TP_STATUS_USER). Which slot it writes next it keeps to itself: it is
/// the one after the frame written last, found by the frames' times, as
/// the kernel stamps every frame it writes.
///
/// A restored socket's kernel writes first into the ring's first slot, and
/// the restore can turn the ring only by whole blocks, as pages: `save`
/// refuses a ring whose kernel is to write next in the middle of a block.
/// libpcap gives each frame a block of its own unless the interface's
/// frames are small (an MTU of 1500 and no offloads), so that is rare.
enum PacketRingFrames {
    static let userOwned: UInt32 = 1 // TP_STATUS_USER
    /// TP_STATUS_COPY: the frame was larger than the slot, and the rest
    /// waits in the socket's queue, which crtool does not keep.
    static let copied: UInt32 = 1 << 1

    /// Saves `ring`, read whole in the kernel's order.
    static func save(_ ring: [UInt8], geometry g: PacketRingGeometry, header: PacketFrameHeader) throws(PacketRingBlocks.Refusal) -> PacketRingImage {
        let layout = Layout(geometry: g, header: header)
        guard layout.isSound, ring.count == g.size else {
            throw .init(reason: "its ring of \(g.frameCount) frames of \(g.frameSize) bytes in \(g.blockCount) blocks of \(g.blockSize) is not laid out as TPACKET_\(header.rawValue.uppercased())")
        }
        let slots = Int(g.frameCount)
        let times = (0..<slots).map { layout.time(of: $0, in: ring) }
        let next = nextSlot(times: times)
        guard next % layout.framesPerBlock == 0 else {
            throw .init(reason: "the kernel is to write its next frame into slot \(next % layout.framesPerBlock) of block \(next / layout.framesPerBlock) of its ring (\(layout.framesPerBlock) to a block), and a restored ring starts at a block's first; crtool cannot checkpoint that yet")
        }
        var blocks = [Data](repeating: Data(), count: Int(g.blockCount))
        for slot in 0..<slots where layout.status(of: slot, in: ring) & userOwned != 0 {
            if layout.status(of: slot, in: ring) & copied != 0 {
                throw .init(reason: "the frame in slot \(slot) of its ring was larger than the slot, and its rest waits in the socket's queue (PACKET_COPY_THRESH), which crtool does not keep")
            }
            let block = slot / layout.framesPerBlock
            let start = layout.offset(of: slot) - block * Int(g.blockSize)
            var bytes = [UInt8](blocks[block])
            bytes += [UInt8](repeating: 0, count: start - bytes.count)
            bytes += ring[layout.offset(of: slot)..<(layout.offset(of: slot) + layout.bytesInUse(of: slot, in: ring))]
            blocks[block] = Data(bytes)
        }
        return PacketRingImage(geometry: g, nextBlock: next / layout.framesPerBlock, blocks: blocks, frameHeader: header)
    }

    /// The slot after the frame written last: the one with the latest
    /// time, the last of those that share it, as a burst of frames may
    /// within a microsecond. The first slot when none has been written
    /// (a slot the kernel never wrote, or that a restore left empty, has
    /// time 0).
    static func nextSlot(times: [UInt64]) -> Int {
        guard let latest = times.max(), latest != 0 else { return 0 }
        let count = times.count
        let last = times.indices.first { times[$0] == latest && times[($0 + 1) % count] != latest } ?? count - 1
        return (last + 1) % count
    }

    /// Where each saved block goes in a ring the kernel has just made, by
    /// offset: turned so that `nextBlock` is the first. Slots the program
    /// did not own stay as the kernel made them, empty.
    static func placements(_ image: PacketRingImage) -> [(offset: Int, bytes: [UInt8])] {
        let count = image.blocks.count
        return image.blocks.indices.filter { !image.blocks[$0].isEmpty }.map { i in
            (((i - image.nextBlock + count) % count) * Int(image.geometry.blockSize), [UInt8](image.blocks[i]))
        }
    }

    /// How many frames the program owns in `image`, as saved.
    static func held(in image: PacketRingImage, header: PacketFrameHeader) -> Int {
        let layout = Layout(geometry: image.geometry, header: header)
        guard layout.isSound else { return 0 }
        return image.blocks.reduce(0) { total, block in
            let bytes = [UInt8](block)
            return total + stride(from: 0, to: layout.framesPerBlock, by: 1).filter { k in
                let at = k * Int(image.geometry.frameSize)
                return at + 4 <= bytes.count && bytes.le(UInt32.self, at: at) & userOwned != 0
            }.count
        }
    }

    /// Where the slots and their headers' fields are.
    private struct Layout {
        let geometry: PacketRingGeometry
        let header: PacketFrameHeader

        var framesPerBlock: Int { geometry.frameSize == 0 ? 0 : Int(geometry.blockSize / geometry.frameSize) }

        var isSound: Bool { header.fitsSlots(of: geometry) }

        func offset(of slot: Int) -> Int {
            slot / framesPerBlock * Int(geometry.blockSize) + slot % framesPerBlock * Int(geometry.frameSize)
        }

        /// The low word of the status, which is all there is of V2's and
        /// all that is used of V1's unsigned long.
        func status(of slot: Int, in ring: [UInt8]) -> UInt32 {
            ring.le(UInt32.self, at: offset(of: slot))
        }

        /// Seconds above, the fraction below: ordered as the times are.
        func time(of slot: Int, in ring: [UInt8]) -> UInt64 {
            UInt64(ring.le(UInt32.self, at: offset(of: slot) + header.timeOffset)) << 32
                | UInt64(ring.le(UInt32.self, at: offset(of: slot) + header.timeOffset + 4))
        }

        /// The header and the frame, which ends `snaplen` bytes after
        /// where it starts (its link-layer header, or its network header
        /// in a SOCK_DGRAM socket, whichever is later); the whole slot
        /// when that reaches past it.
        func bytesInUse(of slot: Int, in ring: [UInt8]) -> Int {
            let at = offset(of: slot)
            let start = max(Int(ring.le(UInt16.self, at: at + header.macOffset)), Int(ring.le(UInt16.self, at: at + header.networkOffset)))
            let end = start + Int(ring.le(UInt32.self, at: at + header.snapLengthOffset))
            return min(max(end, header.size), Int(geometry.frameSize))
        }
    }
}
