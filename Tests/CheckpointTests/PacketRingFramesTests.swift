@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// How a TPACKET_V1 or V2 ring read at a dump is saved and turned, on
/// rings built here slot by slot as the kernel lays them out: where the
/// kernel writes next is found by the frames' times.
final class PacketRingFramesTests: XCTestCase {
    /// A slot to a block, as libpcap's immediate mode has them.
    private let slots = PacketRingGeometry(blockSize: 4096, blockCount: 6, frameSize: 4096, frameCount: 6)
    /// Two slots to a block.
    private let pairs = PacketRingGeometry(blockSize: 4096, blockCount: 3, frameSize: 2048, frameCount: 6)

    /// A slot as the kernel leaves it: `status`, a frame of `snaplen`
    /// bytes at 64 (its first byte `tag`), written at second `time` (0:
    /// never written).
    private struct Slot {
        var status: UInt32 = 0
        var time: UInt32 = 0
        var snaplen: UInt32 = 40
        var tag: UInt8 = 0
    }

    private func ring(_ slots: [Slot], geometry g: PacketRingGeometry, header: PacketFrameHeader = .v2) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: g.size)
        let perBlock = Int(g.blockSize / g.frameSize)
        for (i, s) in slots.enumerated() where s.time != 0 {
            let at = i / perBlock * Int(g.blockSize) + i % perBlock * Int(g.frameSize)
            bytes.replaceSubrange(at..<(at + 4), with: [UInt8].le(s.status))
            bytes.replaceSubrange((at + header.snapLengthOffset)..<(at + header.snapLengthOffset + 4), with: [UInt8].le(s.snaplen))
            bytes.replaceSubrange((at + header.macOffset)..<(at + header.macOffset + 4), with: [UInt8].le(UInt16(64), UInt16(64)))
            bytes.replaceSubrange((at + header.timeOffset)..<(at + header.timeOffset + 8), with: [UInt8].le(s.time, UInt32(500)))
            bytes[at + 64] = s.tag
        }
        return bytes
    }

    private func user(_ time: UInt32, _ tag: UInt8) -> Slot { Slot(status: 1, time: time, tag: tag) }
    private func read(_ time: UInt32) -> Slot { Slot(status: 0, time: time) }

    func testTheKernelWritesNextAfterTheLatestFrame() {
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [0, 0, 0, 0]), 0, "a ring nothing was written to")
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [5, 6, 0, 0]), 2, "a ring not yet gone round")
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [9, 10, 7, 8]), 2, "a ring gone round")
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [9, 9, 9, 8]), 3, "frames of one microsecond: after the last of them")
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [9, 8, 8, 9]), 1, "frames of one microsecond across the ring's end")
        XCTAssertEqual(PacketRingFrames.nextSlot(times: [0, 0, 3, 4]), 0, "a restored ring whose kernel has written nothing yet")
    }

    func testFramesTheProgramOwnsAreKeptAndTheKernelGoesOnInTheNextBlock() throws {
        // Slots 1 and 2 read, 3 and 4 not yet, 5 and 0 old frames read
        // long ago: the kernel writes next into slot 5.
        let bytes = ring([read(2), read(11), read(12), user(13, 0xa3), user(14, 0xa4), read(1)], geometry: slots)
        let saved = try PacketRingFrames.save(bytes, geometry: slots, header: .v2)
        XCTAssertEqual(saved.nextBlock, 5)
        XCTAssertEqual(saved.frameHeader, .v2)
        XCTAssertEqual(saved.blocks.map(\.count), [0, 0, 0, 64 + 40, 64 + 40, 0], "of the frames the program owns, header and frame")
        XCTAssertEqual(saved.blocks[4][64], 0xa4, "the frame itself")
        XCTAssertEqual(saved.heldByProgram, 2)
    }

    func testAFullRingIsSavedWithTheKernelWaitingOnTheOldestFrame() throws {
        let bytes = ring([user(21, 1), user(22, 2), user(17, 3), user(18, 4), user(19, 5), user(20, 6)], geometry: slots)
        let saved = try PacketRingFrames.save(bytes, geometry: slots, header: .v2)
        XCTAssertEqual(saved.nextBlock, 2, "the kernel drops frames until the program reads the one in slot 2")
        XCTAssertEqual(saved.heldByProgram, 6)
    }

    func testSlotsAreTurnedSoTheNextIsTheKernelsFirst() throws {
        let bytes = ring([user(13, 0xa0), read(8), read(9), read(10), user(11, 0xa4), user(12, 0xa5)], geometry: slots)
        let saved = try PacketRingFrames.save(bytes, geometry: slots, header: .v2)
        XCTAssertEqual(saved.nextBlock, 1)
        let placed = PacketRingFrames.placements(saved)
        XCTAssertEqual(placed.map(\.offset), [5 * 4096, 3 * 4096, 4 * 4096], "slot 0 after slots 4 and 5, at the turned ring's end")
        XCTAssertEqual(placed.map { $0.bytes[64] }, [0xa0, 0xa4, 0xa5])

        // The ring as the restore makes it, dumped again before anything
        // arrives, and once the kernel has written two frames: the kernel
        // is found where it is, and the frames keep their order.
        var restored = [UInt8](repeating: 0, count: slots.size)
        for p in placed { restored.replaceSubrange(p.offset..<(p.offset + p.bytes.count), with: p.bytes) }
        let again = try PacketRingFrames.save(restored, geometry: slots, header: .v2)
        XCTAssertEqual(again.nextBlock, 0)
        XCTAssertEqual(again.heldByProgram, 3)
        let arrived = ring([user(40, 0xb0), user(41, 0xb1)], geometry: slots)
        restored.replaceSubrange(0..<(2 * 4096), with: arrived[0..<(2 * 4096)])
        XCTAssertEqual(try PacketRingFrames.save(restored, geometry: slots, header: .v2).nextBlock, 2)
    }

    func testTwoSlotsToABlockAreKeptTogether() throws {
        // Slot 2 read, slot 3 not: the block keeps slot 3 at its place
        // after an empty slot 2.
        let bytes = ring([read(1), read(2), read(3), user(4, 0xc3), Slot(), Slot()], geometry: pairs)
        let saved = try PacketRingFrames.save(bytes, geometry: pairs, header: .v2)
        XCTAssertEqual(saved.nextBlock, 2)
        XCTAssertEqual(saved.blocks.map(\.count), [0, 2048 + 64 + 40, 0])
        XCTAssertEqual([UInt8](saved.blocks[1].prefix(2048)), [UInt8](repeating: 0, count: 2048))
        XCTAssertEqual(saved.heldByProgram, 1)
    }

    func testAKernelInTheMiddleOfABlockIsRefused() {
        let bytes = ring([read(1), read(2), user(3, 7), Slot(), Slot(), Slot()], geometry: pairs)
        XCTAssertThrowsError(try PacketRingFrames.save(bytes, geometry: pairs, header: .v2)) {
            XCTAssertTrue(($0 as? PacketRingBlocks.Refusal)?.reason.contains("slot 1 of block 1") == true, "\($0)")
        }
    }

    func testAFrameWhoseRestWaitsInTheQueueIsRefused() {
        var slot = user(3, 7)
        slot.status |= PacketRingFrames.copied
        XCTAssertThrowsError(try PacketRingFrames.save(ring([read(1), read(2), slot, Slot(), Slot(), Slot()], geometry: slots),
                                                       geometry: slots, header: .v2)) {
            XCTAssertTrue(($0 as? PacketRingBlocks.Refusal)?.reason.contains("PACKET_COPY_THRESH") == true, "\($0)")
        }
    }

    func testV1FramesAreReadAtTheirOwnOffsets() throws {
        // tpacket_hdr: an unsigned long status, the times 4 bytes later.
        let bytes = ring([read(5), user(6, 0xd1), user(7, 0xd2), Slot(), Slot(), Slot()], geometry: slots, header: .v1)
        let saved = try PacketRingFrames.save(bytes, geometry: slots, header: .v1)
        XCTAssertEqual(saved.nextBlock, 3)
        XCTAssertEqual(saved.blocks.map(\.count), [0, 104, 104, 0, 0, 0])
        XCTAssertEqual(saved.heldByProgram, 2)
        XCTAssertThrowsError(try PacketRingFrames.save(Array(bytes.dropLast(4096)), geometry: slots, header: .v1), "a ring of the wrong size")
    }

    func testHostileFrameRingsAreNamedByField() {
        var ring = PacketRingImage(geometry: pairs, nextBlock: 0, blocks: Array(repeating: Data(), count: 3), frameHeader: .v2)
        XCTAssertNil(ring.invalidField)
        ring.geometry.frameCount = 7
        XCTAssertEqual(ring.invalidField?.field, "geometry", "more frames than the blocks hold")
        ring.geometry.frameCount = 6
        ring.geometry.frameSize = 16
        XCTAssertEqual(ring.invalidField?.field, "geometry", "a slot smaller than its header")
        ring.geometry.frameSize = 8192
        XCTAssertEqual(ring.invalidField?.field, "geometry", "a slot larger than its block")
    }
}
