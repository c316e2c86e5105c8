import Foundation
import Glibc
@testable import Ptrace
import XCTest

/// The bytes inside a pty pair are read and put back where they were, and
/// put into a new pair so that both sides read what they would have read.
final class PtyQueuesTests: XCTestCase {
    private var opened: [Int32] = []

    override func tearDown() {
        opened.forEach { close($0) }
        opened = []
    }

    /// A new pair: the master, and the slave in canonical mode without echo
    /// unless `canonical` says otherwise.
    private func pair(canonical: Bool = true, configure: (inout termios) -> Void = { _ in }) throws -> (master: Int32, slave: Int32) {
        let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw SystemError("open /dev/ptmx") }
        opened.append(master)
        var unlock: Int32 = 0
        guard ioctl(master, UInt(0x4004_5431), &unlock) == 0 else { throw SystemError("TIOCSPTLCK") }
        let slave = try TerminalOps.openPeer(master, flags: O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        opened.append(slave)
        var settings = termios()
        tcgetattr(slave, &settings)
        settings.c_lflag &= ~tcflag_t(ECHO)
        if !canonical { settings.c_lflag &= ~tcflag_t(ICANON) }
        configure(&settings)
        tcsetattr(slave, TCSANOW, &settings)
        return (master, slave)
    }

    private func send(_ fd: Int32, _ text: String) {
        send(fd, Data(text.utf8))
    }

    private func send(_ fd: Int32, _ bytes: Data) {
        XCTAssertEqual(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, bytes.count)
    }

    /// Each read a non-blocking `fd` gives until it has nothing for 100
    /// ms (an empty one is a canonical end-of-file line).
    private func chunks(_ fd: Int32) -> [Data] {
        var out: [Data] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<100 {
            var wanted = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&wanted, 1, 100) > 0, wanted.revents & Int16(POLLIN) != 0 else { break }
            let n = read(fd, &buffer, buffer.count)
            if n < 0 { break }
            out.append(Data(buffer[..<n]))
        }
        return out
    }

    /// Each read, as text.
    private func reads(_ fd: Int32) -> [String] {
        chunks(fd).map { String(decoding: $0, as: UTF8.self) }
    }

    /// All that the reads give, as bytes.
    private func readBytes(_ fd: Int32) -> Data {
        chunks(fd).reduce(Data(), +)
    }

    private func setNonBlocking(_ fd: Int32) {
        XCTAssertEqual(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0)
    }

    func testCanonicalLinesEndsOfFileAndTheLineBeingTypedAreReadAndLeftInPlace() throws {
        let (master, slave) = try pair()
        send(master, "first\n\u{4}no newline\u{4}typ")
        send(slave, "out\nmore")
        usleep(20000)
        let queues = try PtyQueues.copy(master: master)
        XCTAssertEqual(queues.lines.map { String(decoding: $0, as: UTF8.self) }, ["first\n", "", "no newline"])
        XCTAssertEqual(String(decoding: queues.toSlave, as: UTF8.self), "typ")
        XCTAssertEqual(String(decoding: queues.toMaster, as: UTF8.self), "out\r\nmore")

        // Left as they were: the same reads, and the line goes on.
        XCTAssertEqual(reads(slave), ["first\n", "", "no newline"])
        send(master, "ed\n")
        XCTAssertEqual(reads(slave), ["typed\n"])
        setNonBlocking(master)
        XCTAssertEqual(reads(master).joined(), "out\r\nmore")
    }

    func testANewPairGivesTheSameReadsAndNoEcho() throws {
        let (master, slave) = try pair()
        let queues = PtyQueues(lines: [Data("a\n".utf8), Data(), Data("b".utf8)], toSlave: Data("c".utf8), toMaster: Data("x\r\ny".utf8))
        try queues.put(master: master)
        XCTAssertEqual(reads(slave), ["a\n", "", "b"])
        send(master, "d\n")
        XCTAssertEqual(reads(slave), ["cd\n"])
        setNonBlocking(master)
        XCTAssertEqual(reads(master).joined(), "x\r\ny", "the output, without the echo that showed the input was taken in")
        XCTAssertEqual(try TerminalOps.attributes(slave).prefix(36), try TerminalOps.attributes(master).prefix(36))
        var settings = termios()
        tcgetattr(slave, &settings)
        XCTAssertEqual(settings.c_lflag & tcflag_t(ECHO | ICANON), tcflag_t(ICANON), "the slave's own modes are back")
    }

    /// Bytes the slave's modes translated on the way in (ICRNL) are put
    /// back as they were read, not translated again.
    func testBytesAreNotTranslatedTwice() throws {
        let (master, slave) = try pair(canonical: false) { $0.c_iflag |= tcflag_t(ICRNL) }
        send(master, "a\rb")
        usleep(20000)
        let queues = try PtyQueues.copy(master: master)
        XCTAssertEqual(String(decoding: queues.toSlave, as: UTF8.self), "a\nb")
        XCTAssertEqual(reads(slave).joined(), "a\nb")

        let (newMaster, newSlave) = try pair(canonical: false) { $0.c_iflag |= tcflag_t(ICRNL) }
        try PtyQueues(toSlave: Data("c\rd".utf8)).put(master: newMaster)
        XCTAssertEqual(reads(newSlave).joined(), "c\rd")
    }

    /// As much as the line discipline holds comes back whole, in any byte
    /// values (raw mode, as a program that reads bytes sets).
    func testAQueueAsLargeAsTheLineDisciplineHoldsComesBackWhole() throws {
        let (master, slave) = try pair(canonical: false, configure: { cfmakeraw(&$0) })
        let bytes = Data((0..<(PtyQueues.lineDisciplineSize - 1)).map { UInt8(truncatingIfNeeded: $0 % 251) })
        send(master, bytes)
        usleep(20000)
        let queues = try PtyQueues.copy(master: master)
        XCTAssertEqual(queues.toSlave, bytes)
        XCTAssertEqual(readBytes(slave), bytes)

        let (newMaster, newSlave) = try pair(canonical: false, configure: { cfmakeraw(&$0) })
        try PtyQueues(toSlave: bytes).put(master: newMaster)
        XCTAssertEqual(readBytes(newSlave), bytes)
    }

    /// More than the line discipline holds waits in the kernel's buffers
    /// before it, which a write might not fill again: nothing is taken, and
    /// the reader reads it all.
    func testAFullLineDisciplineIsLeftUntouched() throws {
        let (master, slave) = try pair(canonical: false, configure: { cfmakeraw(&$0) })
        let bytes = Data((0..<6000).map { UInt8(truncatingIfNeeded: $0 % 253) })
        send(master, bytes)
        usleep(20000)
        XCTAssertThrowsError(try PtyQueues.copy(master: master)) { error in
            XCTAssertEqual((error as? PtyQueues.Full)?.reader, "slave")
        }
        XCTAssertEqual(readBytes(slave), bytes)

        let (other, otherSlave) = try pair(canonical: false, configure: { cfmakeraw(&$0) })
        send(otherSlave, bytes)
        usleep(20000)
        XCTAssertThrowsError(try PtyQueues.copy(master: other)) { error in
            XCTAssertEqual((error as? PtyQueues.Full)?.reader, "master")
        }
        setNonBlocking(other)
        XCTAssertEqual(readBytes(other), bytes)
    }

    /// Output stopped by ^S takes the echo and the output put back, and
    /// is stopped again after, so that ^Q starts it as before; output a
    /// program stopped is stopped again as a program does.
    func testOutputStoppedByTheUserIsStoppedAgainAfterTheBytesGoBack() throws {
        let (master, slave) = try pair()
        send(slave, "out")
        send(master, "\u{13}abc\n")
        usleep(20000)
        let queues = try PtyQueues.copy(master: master)
        XCTAssertEqual(queues.lines, [Data("abc\n".utf8)])
        XCTAssertEqual(queues.toMaster, Data("out".utf8))
        XCTAssertEqual(write(slave, "x", 1), -1, "output is still stopped")
        XCTAssertEqual(reads(slave), ["abc\n"])
        send(master, "\u{11}")
        usleep(20000)
        XCTAssertEqual(write(slave, "y", 1), 1, "^Q starts it again")
        setNonBlocking(master)
        XCTAssertEqual(reads(master).joined(), "outy")

        // Stopped by a program (TCOOFF): stopped so again, which ^Q does
        // not undo and TCOON does.
        let (other, otherSlave) = try pair()
        send(otherSlave, "out")
        XCTAssertEqual(tcflow(otherSlave, TCOOFF), 0)
        send(other, "def\n")
        usleep(20000)
        XCTAssertEqual(try PtyQueues.copy(master: other).toMaster, Data("out".utf8))
        send(other, "\u{11}")
        usleep(20000)
        XCTAssertEqual(write(otherSlave, "x", 1), -1, "output is still stopped")
        XCTAssertEqual(tcflow(otherSlave, TCOON), 0)
        XCTAssertEqual(write(otherSlave, "y", 1), 1)
        XCTAssertEqual(reads(otherSlave), ["def\n"])
        setNonBlocking(other)
        XCTAssertEqual(reads(other).joined(), "outy")
    }

    /// A master in packet mode stays in it, its reads starting with the
    /// data status byte.
    func testPacketModeIsLeftOn() throws {
        let (master, slave) = try pair()
        try TerminalOps.setPacketMode(master, true)
        send(slave, "hello")
        usleep(20000)
        let queues = try PtyQueues.copy(master: master)
        XCTAssertEqual(String(decoding: queues.toMaster, as: UTF8.self), "hello")
        XCTAssertTrue(try TerminalOps.packetMode(master))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(master, &buffer, buffer.count)
        XCTAssertEqual(Array(buffer[..<max(n, 0)]), [0] + Array("hello".utf8))
    }
}
