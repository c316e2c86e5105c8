@testable import Checkpoint
import Glibc
import Ptrace
import XCTest

/// The fdinfo fields eventfd, signalfd and timerfd are saved from, in the
/// forms the kernel prints them, and the kinds' recognition by link.
final class DescriptorStateParsingTests: XCTestCase {
    private func probe(_ link: String, mode: UInt32, fields: [String: String] = [:]) -> FileProbe {
        let text = "pos:\t0\nflags:\t02\n" + fields.map { "\($0.key):\($0.value)\n" }.joined()
        var status = stat()
        status.st_mode = mode
        status.st_ino = 1
        return FileProbe(pid: getpid(), fd: 3, link: link, status: status, info: try! FdInfo.parse(text))
    }

    func testRecognition() {
        let fifo = UInt32(S_IFIFO) | 0o600
        XCTAssertTrue(Pipes.recognizes(probe("pipe:[123]", mode: fifo)))
        XCTAssertFalse(FIFOs.recognizes(probe("pipe:[123]", mode: fifo)))
        XCTAssertTrue(FIFOs.recognizes(probe("/tmp/f", mode: fifo)))
        XCTAssertFalse(Pipes.recognizes(probe("/tmp/f", mode: fifo)))
        XCTAssertFalse(FIFOs.recognizes(probe("/tmp/f", mode: UInt32(S_IFREG))))
        XCTAssertTrue(EventFDs.recognizes(probe("anon_inode:[eventfd]", mode: 0o600)))
        XCTAssertTrue(SignalFDs.recognizes(probe("anon_inode:[signalfd]", mode: 0o600)))
        XCTAssertTrue(TimerFDs.recognizes(probe("anon_inode:[timerfd]", mode: 0o600)))
        XCTAssertFalse(TimerFDs.recognizes(probe("anon_inode:[eventpoll]", mode: 0o600)))
    }

    func testEventFDCountIsHexadecimal() throws {
        let context = try FileDumpContext(pid: getpid(), system: SystemDescriptors())
        var image = FileDescriptorImage(fd: 3, kind: .eventfd, path: "anon_inode:[eventfd]", flags: 0, closeOnExec: false, position: 0)
        let p = probe("anon_inode:[eventfd]", mode: 0o600,
                      fields: ["eventfd-count": "       1000f4240", "eventfd-semaphore": "1"])
        try EventFDs.collect(&image, probe: p, context: context)
        XCTAssertEqual(image.eventfd, EventFDState(count: 0x1_000f_4240, semaphore: true))

        let old = probe("anon_inode:[eventfd]", mode: 0o600, fields: ["eventfd-count": "               5"])
        try EventFDs.collect(&image, probe: old, context: context)
        XCTAssertEqual(image.eventfd, EventFDState(count: 5, semaphore: false))

        let bad = probe("anon_inode:[eventfd]", mode: 0o600, fields: ["eventfd-count": "five"])
        XCTAssertThrowsError(try EventFDs.collect(&image, probe: bad, context: context))
    }

    func testSignalFDMask() throws {
        let context = try FileDumpContext(pid: getpid(), system: SystemDescriptors())
        var image = FileDescriptorImage(fd: 3, kind: .signalfd, path: "anon_inode:[signalfd]", flags: 0, closeOnExec: false, position: 0)
        try SignalFDs.collect(&image, probe: probe("anon_inode:[signalfd]", mode: 0o600, fields: ["sigmask": "0000000800000200"]),
                              context: context)
        XCTAssertEqual(image.signalfd?.mask, (1 << 9) | (1 << 35)) // SIGUSR1, SIGRTMIN+2
    }

    func testTimespecFields() throws {
        XCTAssertEqual(try TimerFDs.duration("(1, 464615923)", file: "f", field: "it_value"), 1_464_615_923)
        XCTAssertEqual(try TimerFDs.duration("(0, 0)", file: "f", field: "it_value"), 0)
        XCTAssertThrowsError(try TimerFDs.duration("(1, 2, 3)", file: "f", field: "it_value"))
        XCTAssertThrowsError(try TimerFDs.duration(nil, file: "f", field: "it_value"))
        XCTAssertThrowsError(try TimerFDs.duration("(1, 1000000000)", file: "f", field: "it_value"))
    }

    /// Relative timers get the time they had left; a wall-clock deadline
    /// stays the same date.
    func testFirstExpiration() throws {
        let relative = TimerFDState(clock: CLOCK_MONOTONIC, settimeFlags: 0, remainingNanoseconds: 5_000,
                                    intervalNanoseconds: 0, ticks: 0, clockAtDumpNanoseconds: 1_000_000)
        XCTAssertEqual(try TimerFDs.firstExpiration(relative), 5_000)
        var date = relative
        date.clock = CLOCK_REALTIME
        date.settimeFlags = 1
        XCTAssertEqual(try TimerFDs.firstExpiration(date), 1_005_000)
        var monotonicAbsolute = relative
        monotonicAbsolute.settimeFlags = 1
        let now = try TimerFDOps.now(clock: CLOCK_MONOTONIC)
        XCTAssertGreaterThanOrEqual(try TimerFDs.firstExpiration(monotonicAbsolute), now + 5_000)
    }
}
