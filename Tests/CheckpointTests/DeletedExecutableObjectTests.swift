@testable import Checkpoint
import XCTest

/// Which saved object becomes /proc/PID/exe of a program whose binary was
/// deleted, and when there is none (the dump then refuses).
final class DeletedExecutableObjectTests: XCTestCase {
    private func vma(_ path: String?, object: UInt64?) -> VMAImage {
        VMAImage(start: 0x1000, end: 0x2000, protection: "r-xp", kind: .privateFile, offset: 0, path: path,
                 flags: [], pagesStored: 0, sharedMemory: object)
    }

    func testAnExecutableOnDiskIsOpenedByPath() {
        XCTAssertNil(ProcessImage.deletedExecutableObject(executable: "/usr/bin/sleep", vmas: [vma("/usr/bin/sleep", object: nil)]))
    }

    func testADeletedExecutableIsTheObjectItsMappingsComeFrom() {
        let exe = "/tmp/tool (deleted)"
        let vmas = [vma(nil, object: nil), vma("/memfd:other (deleted)", object: 7), vma(exe, object: 42), vma(exe, object: 42)]
        XCTAssertEqual(ProcessImage.deletedExecutableObject(executable: exe, vmas: vmas), 42)
    }

    func testADeletedExecutableMappedNowhereHasNoObject() {
        let vmas = [vma("/tmp/library.so (deleted)", object: 9), vma("/tmp/tool", object: nil)]
        XCTAssertNil(ProcessImage.deletedExecutableObject(executable: "/tmp/tool (deleted)", vmas: vmas))
    }
}
