import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A capture program's receive ring (fixtures/python/packetring.py) comes
/// back with the frames it had not read, and the kernel goes on after
/// them: the program reads every frame once, in order, through two
/// restores. Of TPACKET_V3, those frames are in blocks the kernel had
/// handed it and in the block the kernel was filling; of V2 and V1, each
/// in a slot of its own, and a full ring comes back full, its kernel
/// dropping frames until the program reads the oldest.
final class PacketRingTests: EndToEndCase {
    private static let ethertype: UInt16 = 0x88B5

    /// Sends frames numbered `range` on lo with the fixture's ethertype.
    private func send(_ range: ClosedRange<Int>) throws {
        let fd = try Sockets.create(family: AF_PACKET, type: Int32(SOCK_RAW.rawValue), protocol: 0)
        defer { close(fd) }
        try Sockets.bind(fd, .packet(protocolNumber: Self.ethertype, interfaceIndex: NetworkInterface.index(ofName: "lo")))
        for n in range {
            var frame = [UInt8](repeating: 0, count: 12) + [UInt8(Self.ethertype >> 8), UInt8(Self.ethertype & 0xff)]
            let payload = Array(String(n).utf8)
            frame += payload + [UInt8](repeating: 0, count: 100 - payload.count)
            XCTAssertEqual(try Sockets.send(fd, frame, flags: 0).get(), frame.count, "frame \(n)")
        }
    }

    private func frames(_ program: Fixture) -> [Int] {
        program.log.lines().compactMap { $0.hasPrefix("frame ") ? Int($0.dropFirst(6)) : nil }
    }

    /// Sends frames from `next` on, 20 at a time, until the program has
    /// read frame `target`; returns the next number to send. The kernel
    /// hands a block over only once a frame does not fit in it, so a
    /// block's worth (some 20 of these frames) more is sent, and each
    /// time the program is let to read on, but for that block, before
    /// more is sent: the ring (8 blocks) never fills.
    private func sendUntilRead(_ program: Fixture, from next: Int, reaching target: Int) throws -> Int {
        var next = next
        while next <= target + 40 {
            try send(next...(next + 19))
            next += 20
            let behind = next - 1 - 80
            XCTAssertTrue(poll(timeout: 10, every: 0.01) { (self.frames(program).last ?? 0) >= behind },
                          "the program does not read on to frame \(behind): \(program.log.tail())")
        }
        XCTAssertTrue(poll(timeout: 10, every: 0.01) { self.frames(program).contains(target) },
                      "the program does not read frame \(target): \(program.log.tail())")
        return next
    }

    /// Sends frames numbered `range`, five at a time, each five once the
    /// program has read those before: a ring of 16 slots never fills.
    private func sendRead(_ program: Fixture, _ range: ClosedRange<Int>) throws {
        for first in stride(from: range.lowerBound, through: range.upperBound, by: 5) {
            let last = min(first + 4, range.upperBound)
            try send(first...last)
            XCTAssertTrue(poll(timeout: 10, every: 0.01) { self.frames(program).last == last },
                          "the program does not read frame \(last): \(program.log.tail())")
        }
    }

    /// Holds the program (it reads nothing while `hold` exists), then
    /// sends frames numbered `range`.
    private func hold(_ hold: String, sending range: ClosedRange<Int>) throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: nil))
        usleep(200_000)
        try send(range)
    }

    private func startFrameRing(version: Int, hold: String) throws -> Fixture {
        let python = try BuildProducts.requirePython3()
        return try startProgram("packetring-v\(version)", python, [BuildProducts.packageRoot + "/fixtures/python/packetring.py", hold, "\(version)"],
                                isReady: { $0 == "ready" })
    }

    func testV2RingFramesUnreadAtTheDumpAreReadOnceInOrder() throws {
        let hold = scratch.newPath("hold")
        let program = try startFrameRing(version: 2, hold: hold)
        // Round the ring twice: the kernel's next slot is not its first.
        try sendRead(program, 1...40)
        try self.hold(hold, sending: 41...50)
        usleep(100_000)
        XCTAssertEqual(frames(program).last, 40, "the program reads nothing while held")

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("packet ethertype 0x88b5 on lo, a receive ring of 16 frames of 4.0 KiB (TPACKET_V2), 10 held by the program"),
                      "show names the ring and the frames the program had not read: \(show)")
        XCTAssertEqual(try ImageDirectory.open(at: image).manifest.formatVersion, Manifest.packetFrameRingFormatVersion)
        let processFile = "process-\(program.pid).json"
        let hostile = try editedCopy(of: image, file: processFile, replacing: "\"frameCount\" : 16", with: "\"frameCount\" : 17")
        try assertRestoreRefused(hostile, pid: program.pid, mentioning: [processFile, "packetSocket.receiveRing.geometry"])

        try restore(image, as: program)
        try send(51...53)
        XCTAssertEqual(unlink(hold), 0)
        XCTAssertTrue(poll(timeout: 10, every: 0.01) { self.frames(program).last == 53 }, "the program reads on: \(program.log.tail())")
        // Dumped again with the restored kernel a few slots on.
        let second = try checkpoint(program)
        try restore(second, as: program)
        try sendRead(program, 54...80)

        XCTAssertEqual(frames(program), Array(1...80), "every frame read once, in order")
        assertNoFailures(program)
    }

    func testAFullV1RingComesBackFullAndTheKernelWaitsForTheOldestFrame() throws {
        let hold = scratch.newPath("hold")
        let program = try startFrameRing(version: 1, hold: hold)
        try sendRead(program, 1...10)
        try self.hold(hold, sending: 11...26)

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("a receive ring of 16 frames of 4.0 KiB (TPACKET_V1), 16 held by the program"), "the ring is full: \(show)")
        try restore(image, as: program)
        // No slot is free: the kernel drops these, as it did before.
        try send(27...28)
        XCTAssertEqual(unlink(hold), 0)
        XCTAssertTrue(poll(timeout: 10, every: 0.01) { self.frames(program).last == 26 }, "the program reads what it held: \(program.log.tail())")
        try sendRead(program, 29...50)

        XCTAssertEqual(frames(program), Array(1...26) + Array(29...50), "every frame that found a slot read once, in order")
        assertNoFailures(program)
    }

    func testRingFramesUnreadAtTheDumpAreReadOnceInOrder() throws {
        let python = try BuildProducts.requirePython3()
        let hold = scratch.newPath("hold")
        let program = try startProgram("packetring", python, [BuildProducts.packageRoot + "/fixtures/python/packetring.py", hold],
                                       isReady: { $0 == "ready" })
        // Some turns of the ring first, so that the kernel's blocks have
        // sequence numbers above those a restored kernel starts with.
        var next = try sendUntilRead(program, from: 1, reaching: 250)

        // Held: the program reads nothing while blocks pile up, and the
        // last is still being filled at the dump.
        XCTAssertTrue(FileManager.default.createFile(atPath: hold, contents: nil))
        usleep(200_000)
        let readBeforeHold = frames(program).count
        try send(next...(next + 69))
        next += 70
        usleep(100_000)
        XCTAssertEqual(frames(program).count, readBeforeHold, "the program reads nothing while held")

        let image = try checkpoint(program)
        let show = try crtool(["show", image])
        XCTAssertTrue(show.stdout.contains("packet ethertype 0x88b5 on lo, a receive ring of 8 blocks of 4.0 KiB"), "show names the ring: \(show)")
        let held = try XCTUnwrap(show.stdout.range(of: #"(\d+) held by the program"#, options: .regularExpression).map { show.stdout[$0] })
        XCTAssertGreaterThanOrEqual(Int(held.prefix { $0.isNumber }) ?? 0, 4, "the blocks handed over and the one being filled are the program's: \(held)")
        XCTAssertEqual(try ImageDirectory.open(at: image).manifest.formatVersion, Manifest.packetRingFormatVersion)
        // Hostile rings are refused before anything is made, by field.
        let processFile = "process-\(program.pid).json"
        for (from, to, field) in [("\"blockSize\" : 4096", "\"blockSize\" : 100", "packetSocket.receiveRing.geometry"),
                                  ("\"ringSocket\" : ", "\"ringSocket\" : 9", ".ringSocket")] {
            let hostile = try editedCopy(of: image, file: processFile, replacing: from, with: to)
            try assertRestoreRefused(hostile, pid: program.pid, mentioning: [processFile, field])
        }

        try restore(image, as: program)
        XCTAssertEqual(unlink(hold), 0)
        // Less than a turn: the blocks restored are not all filled again
        // before the second dump, which must still find the kernel's.
        next = try sendUntilRead(program, from: next, reaching: next + 30)

        let second = try checkpoint(program)
        try restore(second, as: program)
        next = try sendUntilRead(program, from: next, reaching: next + 200)

        let read = frames(program)
        XCTAssertEqual(read, Array(1...max(read.count, 1)), "every frame read once, in order: \(read.suffix(40))")
        XCTAssertGreaterThan(read.count, 500)
        assertNoFailures(program)
    }
}
