@testable import Checkpoint
import Glibc
import Ptrace
import XCTest

/// The progress line of a long dump or restore: on a terminal only, not
/// with --quiet, not for work that ends before it would be read, and
/// cleared before what is printed next.
final class ProgressTests: XCTestCase {
    private var master: Int32 = -1
    private var slave: Int32 = -1

    override func setUpWithError() throws {
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)
        guard master >= 0 else { throw SystemError("open /dev/ptmx") }
        var unlock: Int32 = 0
        guard ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0 else { throw SystemError("TIOCSPTLCK") }
        let index = try TerminalOps.ptyIndex(master)
        slave = open("/dev/pts/\(index)", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard slave >= 0 else { throw SystemError("open /dev/pts/\(index)") }
    }

    override func tearDown() {
        if slave >= 0 { close(slave) }
        if master >= 0 { close(master) }
    }

    /// What the terminal shows so far.
    private func shown() -> String {
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            text += buffer[0..<n]
        }
        return String(decoding: text, as: UTF8.self)
    }

    func testBytesDoneAndRateOnATerminalAtMostFiveTimesASecond() throws {
        let progress = Progress(label: "dump", total: 8 << 20, quiet: false, output: slave, after: 0)
        progress.add(3 << 20)
        progress.add(1 << 20) // too soon after the first line
        Thread.sleep(forTimeInterval: 0.25)
        progress.add(1 << 20)
        progress.finish()
        let lines = shown().split(separator: "\r", omittingEmptySubsequences: true).map(String.init)
        XCTAssertEqual(lines.count, 3, "\(lines)")
        guard lines.count == 3 else { return }
        XCTAssertTrue(lines[0].hasPrefix("dump: 3.0 MiB of 8.0 MiB, "), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("dump: 5.0 MiB of 8.0 MiB, "), lines[1])
        for line in lines[0...1] {
            XCTAssertNotNil(line.range(of: #"^dump: [0-9.]+ MiB of 8\.0 MiB, [0-9.]+ [KMG]i?B/s +$"#, options: .regularExpression), line)
        }
        XCTAssertEqual(lines[2], "\u{1b}[K", "finish clears the line")
    }

    func testNothingForWorkShorterThanTheWait() {
        let progress = Progress(label: "restore", total: 8 << 20, quiet: false, output: slave, after: 60)
        progress.add(8 << 20)
        progress.finish()
        XCTAssertEqual(shown(), "")
    }

    func testNothingWhenQuiet() {
        let progress = Progress(label: "dump", total: 8 << 20, quiet: true, output: slave, after: 0)
        progress.add(8 << 20)
        progress.finish()
        XCTAssertEqual(shown(), "")
    }

    func testNothingWhenNotATerminal() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SystemError("pipe") }
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        defer { close(ends[0]); close(ends[1]) }
        let progress = Progress(label: "dump", total: 8 << 20, quiet: false, output: ends[1], after: 0)
        progress.add(8 << 20)
        progress.finish()
        var byte: UInt8 = 0
        XCTAssertEqual(read(ends[0], &byte, 1), -1, "the pipe holds nothing")
        XCTAssertEqual(errno, EAGAIN)
    }

    func testFinishingTwiceClearsOnce() {
        let progress = Progress(label: "dump", total: 8 << 20, quiet: false, output: slave, after: 0)
        progress.add(1 << 20)
        progress.finish()
        progress.finish()
        XCTAssertEqual(shown().components(separatedBy: "\u{1b}[K").count - 1, 1)
    }
}
