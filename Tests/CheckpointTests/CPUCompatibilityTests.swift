@testable import Checkpoint
import Ptrace
import XCTest

/// Which differences between the image's CPU and this one refuse a
/// restore, and how they are named.
final class CPUCompatibilityTests: XCTestCase {
    private let amd = HostCPU(model: "older", flags: "fpu sse sse2 avx avx2 bmi2 hypervisor constant_tsc", xfeatures: 0x7)

    func testTheSameCPUPasses() {
        XCTAssertEqual(CPUCompatibility.problems(image: amd, host: amd, checks: .all), [])
    }

    func testOnlyInstructionSetsTheHostLacksAreNamedInOrder() {
        var image = amd
        image.flags += " avx512f avx512bw avx512_fp16 erms fsrm nonstop_tsc"
        let problems = CPUCompatibility.problems(image: image, host: amd, checks: .instructions)
        XCTAssertEqual(problems, ["the instruction sets avx512_fp16, avx512bw, avx512f, which its programs may have chosen code for and would stop on with SIGILL"])
        XCTAssertEqual(CPUCompatibility.problems(image: image, host: amd, checks: .fpu), [], "flags are not register state")
        XCTAssertEqual(CPUCompatibility.problems(image: amd, host: image, checks: .all), [], "a newer CPU runs it")
    }

    func testRegisterStateTheHostCannotHoldIsNamedByComponent() {
        var image = amd
        image.xfeatures = 0x600e7
        let problems = CPUCompatibility.problems(image: image, host: amd, checks: .fpu)
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].hasPrefix("register state AVX-512 opmask, AVX-512 ZMM_Hi256, AVX-512 Hi16_ZMM, AMX TILECFG, AMX TILEDATA (xfeatures 0x600e7 there, 0x7 here)"), problems[0])
        XCTAssertEqual(CPUCompatibility.problems(image: image, host: amd, checks: .instructions), [])
        XCTAssertEqual(CPUCompatibility.problems(image: image, host: amd, checks: []), [])
    }

    func testRequireNamesTheFieldAndTheWayAround() throws {
        var manifest = Manifest(cpu: HostCPU(model: "newer", flags: amd.flags + " avx512f", xfeatures: 0xe7))
        XCTAssertThrowsError(try CPUCompatibility.require(manifest, checks: .all, host: amd)) { error in
            let text = "\(error)"
            for part in ["made on a CPU (newer)", "this CPU (older) lacks", "register state AVX-512 opmask", "instruction set avx512f,",
                         "(manifest.json, field cpu)", "--cpu-cap none"] {
                XCTAssertTrue(text.contains(part), "\(part): \(text)")
            }
        }
        XCTAssertNoThrow(try CPUCompatibility.require(manifest, checks: [], host: amd))
        manifest.cpu = nil
        XCTAssertNoThrow(try CPUCompatibility.require(manifest, checks: .all, host: amd), "an image that recorded no CPU")
    }

    func testCapNamesAreCRIUs() {
        XCTAssertEqual(CPUChecks(names: "fpu,ins"), .all)
        XCTAssertEqual(CPUChecks(names: "ins"), .instructions)
        XCTAssertEqual(CPUChecks(names: "fpu"), .fpu)
        XCTAssertEqual(CPUChecks(names: "none"), [])
        XCTAssertNil(CPUChecks(names: "cpu"))
        XCTAssertNil(CPUChecks(names: "fpu,sse"))
        XCTAssertNil(CPUChecks(names: ""), "nothing named is a mistake, not none")
        XCTAssertNil(CPUChecks(names: "fpu,"))
    }
}
