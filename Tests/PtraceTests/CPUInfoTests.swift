@testable import Ptrace
import XCTest

/// /proc/cpuinfo as a restore on another host compares it: the first
/// CPU's model and flags, and the XSAVE components user space may use.
final class CPUInfoTests: XCTestCase {
    func testCPUInfoTakesTheFirstCPUsBlock() {
        let text = """
            processor\t: 0
            vendor_id\t: AuthenticAMD
            model name\t: AMD EPYC 9B14
            flags\t\t: fpu sse sse2 avx

            processor\t: 1
            model name\t: other
            flags\t\t: fpu
            """
        let info = CPUInfo.parse(text, userXFeatures: 7)
        XCTAssertEqual(info, CPUInfo(model: "AMD EPYC 9B14", flags: ["fpu", "sse", "sse2", "avx"], userXFeatures: 7))
        XCTAssertEqual(CPUInfo.parse("vendor_id : GenuineIntel\nflags : fpu\n", userXFeatures: 0).model, "GenuineIntel")
    }

    func testThisHostsCPUIsRead() throws {
        let info = try CPUInfo.read()
        XCTAssertTrue(info.flags.contains("sse2"), "\(info.flags)")
        XCTAssertFalse(info.model.isEmpty)
        XCTAssertEqual(info.userXFeatures & 3, 3, "x87 and SSE: 0x\(String(info.userXFeatures, radix: 16))")
    }
}
