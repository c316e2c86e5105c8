import Foundation
import Glibc
import XCTest

/// A program part way through reading /proc/self/maps when it is dumped
/// reads the rest after the restore from where it was: the lines it puts
/// together are whole, and the one it was in the middle of is one of its
/// maps's lines.
final class ProcFilePositionTests: EndToEndCase {
    func testAProgramPartWayThroughItsMapsReadsOnFromWhereItWas() throws {
        let program = try startPython("maps-reader", """
            import os, re, signal, time
            fd = os.open("/proc/self/maps", os.O_RDONLY)
            head = os.read(fd, 1500)
            assert not head.endswith(b"\\n")

            def finish(signum, frame):
                rest = b""
                while chunk := os.read(fd, 65536):
                    rest += chunk
                lines = (head + rest).decode().splitlines()
                whole = open("/proc/self/maps").read().splitlines()
                joined = (head.decode().split("\\n")[-1] + rest.decode().split("\\n")[0])
                broken = [l for l in lines if not re.match(r"^[0-9a-f]+-[0-9a-f]+ [-r][-w][-x][ps] ", l)]
                if broken or joined not in whole:
                    print("FAIL: lines", broken[:2], "joined", repr(joined), flush=True)
                else:
                    print("whole lines", len(lines), flush=True)

            signal.signal(signal.SIGUSR1, finish)
            print("ready", flush=True)
            while True:
                time.sleep(0.05)
            """)
        let (_, mark) = try roundTrip(program)
        try program.signal(SIGUSR1)
        XCTAssertTrue(poll(timeout: 10) { program.log.lines().dropFirst(mark).contains { $0.hasPrefix("whole lines") || $0.hasPrefix("FAIL") } })
        assertNoFailures(program)
        XCTAssertNotNil(program.log.lines().dropFirst(mark).first { $0.hasPrefix("whole lines") })
    }
}
