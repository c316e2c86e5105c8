@testable import Checkpoint
import Foundation
import Ptrace
import XCTest

/// How a TPACKET_V3 ring read at a dump is saved, turned and mapped again,
/// on rings built here block by block as the kernel lays them out.
final class PacketRingBlocksTests: XCTestCase {
    private let geometry = PacketRingGeometry(blockSize: 4096, blockCount: 4, frameSize: 2048, frameCount: 8)
    private static let firstFrame = 48

    /// A ring whose block i has `status`, `frames` frames of 64 bytes
    /// (numbered in their first payload byte) and sequence number `sequence`.
    private func ring(_ blocks: [(status: UInt32, frames: Int, sequence: UInt64)]) -> [UInt8] {
        var bytes: [UInt8] = []
        for (i, b) in blocks.enumerated() {
            var block = [UInt8](repeating: 0, count: 4096)
            let length = Self.firstFrame + 64 * b.frames
            let header = [UInt8].le(UInt32(2), UInt32(48), b.status, UInt32(b.frames), UInt32(Self.firstFrame), UInt32(length)) + [UInt8].le(b.sequence)
            block.replaceSubrange(0..<header.count, with: header)
            for f in 0..<b.frames {
                let at = Self.firstFrame + 64 * f
                // tp_next_offset, tp_sec, tp_nsec; a payload byte.
                block.replaceSubrange(at..<(at + 12), with: [UInt8].le(UInt32(64), UInt32(1000 + f), UInt32(i)))
                block[at + 60] = UInt8(10 * i + f)
            }
            bytes += block
        }
        return bytes
    }

    private func status(_ block: Data) -> UInt32 { [UInt8](block).le(UInt32.self, at: PacketRingBlocks.statusOffset) }

    func testTheBlockBeingFilledIsHandedOverAndTheKernelGoesOnInTheNext() throws {
        // Block 1 handed over and unread, block 2 being filled with three
        // frames (the highest sequence number), blocks 0 and 3 given back.
        let saved = try PacketRingBlocks.save(ring([(0, 5, 5), (1, 4, 6), (0, 3, 7), (0, 2, 4)]), geometry: geometry)
        XCTAssertEqual(saved.nextBlock, 3)
        XCTAssertEqual(saved.heldByProgram, 2)
        XCTAssertEqual(saved.blocks.map(\.count), [48, 48 + 4 * 64, 48 + 3 * 64, 48], "what the program owns is kept whole, of the rest the descriptor")
        let handed = [UInt8](saved.blocks[2])
        XCTAssertEqual(status(saved.blocks[2]), PacketRingBlocks.userOwned | PacketRingBlocks.closedByTimeout)
        XCTAssertEqual(handed.le(UInt32.self, at: 48 + 2 * 64), 0, "the last frame links to nothing")
        XCTAssertEqual(handed.le(UInt32.self, at: 48 + 64), 64, "the others as they were")
        XCTAssertEqual(Array(handed[40..<48]), [UInt8].le(UInt32(1002), UInt32(2)), "the block's last time is its last frame's")
        XCTAssertEqual(handed[48 + 2 * 64 + 60], 22, "the frames themselves are kept")
    }

    func testAnEmptyBlockBeingFilledIsWhereTheKernelGoesOn() throws {
        let saved = try PacketRingBlocks.save(ring([(1, 5, 9), (0, 0, 10), (0, 2, 7), (1, 2, 8)]), geometry: geometry)
        XCTAssertEqual(saved.nextBlock, 1)
        XCTAssertEqual(saved.heldByProgram, 2)
    }

    func testAKernelWaitingOnABlockTheProgramGaveBackGoesOnThere() throws {
        // Block 2 was handed over last; block 3, which the kernel waited
        // for, has been given back since.
        let saved = try PacketRingBlocks.save(ring([(1, 5, 5), (1, 4, 6), (1, 3, 7), (0, 2, 4)]), geometry: geometry)
        XCTAssertEqual(saved.nextBlock, 3)
        XCTAssertEqual(saved.heldByProgram, 3)
    }

    func testAFullRingIsRefused() {
        XCTAssertThrowsError(try PacketRingBlocks.save(ring([(1, 5, 5), (1, 4, 6), (1, 3, 7), (1, 2, 4)]), geometry: geometry)) {
            XCTAssertTrue(($0 as? PacketRingBlocks.Refusal)?.reason.contains("ring is full") == true, "\($0)")
        }
        // The block after the one being filled is still the program's.
        XCTAssertThrowsError(try PacketRingBlocks.save(ring([(0, 5, 5), (0, 3, 7), (1, 2, 4), (1, 2, 5)]), geometry: geometry))
    }

    func testFramesThatDoNotLinkUpAreRefused() {
        var bytes = ring([(0, 5, 5), (0, 3, 7), (0, 0, 0), (0, 0, 0)])
        bytes.replaceSubrange((4096 + 48 + 64)..<(4096 + 48 + 68), with: [UInt8].le(UInt32(0)))
        XCTAssertThrowsError(try PacketRingBlocks.save(bytes, geometry: geometry)) {
            XCTAssertTrue(($0 as? PacketRingBlocks.Refusal)?.reason.contains("block 1") == true, "\($0)")
        }
        XCTAssertThrowsError(try PacketRingBlocks.save(Array(bytes.prefix(4096 * 3)), geometry: geometry), "a ring of the wrong size")
    }

    func testBlocksAreTurnedSoTheNextIsTheKernelsFirstAndLoseTheirSequenceNumbers() throws {
        let saved = try PacketRingBlocks.save(ring([(1, 5, 5), (0, 0, 6), (0, 2, 3), (1, 2, 4)]), geometry: geometry)
        XCTAssertEqual(saved.nextBlock, 1)
        let placed = PacketRingBlocks.placements(saved)
        XCTAssertEqual(placed.map(\.offset), [3 * 4096, 1 * 4096, 2 * 4096], "blocks 0, 2, 3 after the kernel's first, whose descriptor is left alone")
        XCTAssertEqual(placed[0].bytes.count, saved.blocks[0].count)
        XCTAssertEqual(placed[0].bytes[48 + 4 * 64 + 60], 4, "block 0's frames, at its new place")
        for p in placed {
            XCTAssertEqual(p.bytes.le(UInt64.self, at: PacketRingBlocks.sequenceOffset), 0, "the block at \(p.offset) is numbered below every block the kernel opens")
        }
    }

    func testTheProgramsPrivateAreaOfTheKernelsFirstBlockGoesBack() throws {
        var bytes = ring([(1, 5, 5), (0, 0, 6), (0, 2, 3), (1, 2, 4)])
        // 16 bytes of the program's own after each descriptor.
        for i in 0..<4 {
            bytes.replaceSubrange((i * 4096 + 16)..<(i * 4096 + 20), with: [UInt8].le(UInt32(64)))
            bytes.replaceSubrange((i * 4096 + 48)..<(i * 4096 + 64), with: [UInt8](repeating: UInt8(0xa0 + i), count: 16))
        }
        let saved = try PacketRingBlocks.save(bytes, geometry: geometry)
        XCTAssertEqual(saved.blocks[1].count, 64, "a free block keeps its descriptor and private area")
        let placed = PacketRingBlocks.placements(saved)
        XCTAssertEqual(placed.first?.offset, 48, "the private area of the kernel's first block, after the descriptor it made")
        XCTAssertEqual(placed.first?.bytes, [UInt8](repeating: 0xa1, count: 16))
        XCTAssertEqual(placed.count, 4)
    }

    func testAMappingIsMovedInPiecesThatWrapAroundTheTurnedRing() throws {
        let saved = PacketRingImage(geometry: geometry, nextBlock: 1, blocks: Array(repeating: Data(count: 48), count: 4))
        let whole = PacketRingBlocks.pieces(offset: 0, length: 4 * 4096, of: saved)
        XCTAssertEqual(whole.map { [$0.source, $0.at, $0.length] }, [[3 * 4096, 0, 4096], [0, 4096, 3 * 4096]])
        let tail = PacketRingBlocks.pieces(offset: 2 * 4096, length: 2 * 4096, of: saved)
        XCTAssertEqual(tail.map { [$0.source, $0.at, $0.length] }, [[4096, 0, 2 * 4096]], "a part after the turn moves whole")
        let unturned = PacketRingImage(geometry: geometry, nextBlock: 0, blocks: saved.blocks)
        XCTAssertEqual(PacketRingBlocks.pieces(offset: 4096, length: 3 * 4096, of: unturned).map { [$0.source, $0.at, $0.length] }, [[4096, 0, 3 * 4096]])
    }

    func testHostileRingsAreNamedByField() {
        var ring = PacketRingImage(geometry: geometry, nextBlock: 0, blocks: Array(repeating: Data(count: 48), count: 4))
        XCTAssertNil(ring.invalidField)
        ring.nextBlock = 4
        XCTAssertEqual(ring.invalidField?.field, "nextBlock")
        ring.nextBlock = 0
        ring.blocks[2] = Data(count: 4097)
        XCTAssertEqual(ring.invalidField?.field, "blocks[2]")
        ring.blocks.removeLast()
        XCTAssertEqual(ring.invalidField?.field, "blocks")
        ring.geometry.blockSize = 100
        XCTAssertEqual(ring.invalidField?.field, "geometry")
    }
}
