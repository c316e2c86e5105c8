import Checkpoint
import Foundation
import Glibc
import Ptrace
import XCTest

/// A capture program's TPACKET_V3 receive ring (fixtures/python/
/// packetring.py) comes back with the frames it had not read, in blocks
/// the kernel had handed it and in the block the kernel was filling, and
/// the kernel goes on in the block after them: the program reads every
/// frame once, in order, through two restores.
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
