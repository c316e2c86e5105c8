import Foundation
import Glibc
import Ptrace
import XCTest

final class TracerThreadTests: XCTestCase {
    func testRunsOnAnotherThreadAndReturnsTheResult() throws {
        let caller = Tracee.callingThreadID
        let tid = try TracerThread.run { Tracee.callingThreadID }
        XCTAssertNotEqual(tid, caller)
        let second = try TracerThread.run { Tracee.callingThreadID }
        XCTAssertNotEqual(second, caller)
    }

    func testRethrowsTheBodysError() {
        XCTAssertThrowsError(try TracerThread.run { () throws -> Int in throw TraceError(pid: 5, "boom") }) { error in
            XCTAssertEqual((error as? TraceError)?.message, "boom")
            XCTAssertEqual((error as? TraceError)?.description, "pid 5: boom")
        }
    }
}

final class KernelFeaturesTests: XCTestCase {
    func testEveryRequiredFeatureIsAvailableHere() {
        // These tests run as root on a current kernel, like crtool itself.
        let features = KernelFeatures.probeAll()
        XCTAssertGreaterThanOrEqual(features.count, 10)
        XCTAssertEqual(Set(features.map(\.name)).count, features.count, "names are unique")
        for f in features where f.required {
            XCTAssertTrue(f.available, "\(f.name): \(f.detail)")
        }
        XCTAssertTrue(features.contains { $0.name.contains("ptrace") && $0.required })
        let packetDiag = features.first { $0.name.hasPrefix("packet_diag") }
        XCTAssertEqual(packetDiag?.available, true, "this kernel has packet_diag: \(packetDiag?.detail ?? "not probed")")
        let aio = features.first { $0.name.hasPrefix("io_setup and moving an AIO ring") }
        XCTAssertEqual(aio?.available, true, "this kernel has Linux AIO: \(aio?.detail ?? "not probed")")
        XCTAssertTrue(aio?.detail.hasPrefix("fs.aio-max-nr ") == true, aio?.detail ?? "")
        XCTAssertFalse((try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8))?.contains("/[aio]") ?? true, "the probe's context is gone")
    }
}
