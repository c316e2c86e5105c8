@testable import Checkpoint
import XCTest

/// An image's runs of transparent huge pages are whole 2 MiB pages, in
/// order, inside the private anonymous VMA that records them; anything
/// else is refused naming the VMA's field, before a restore makes anything.
final class TransparentHugePageRunsTests: XCTestCase {
    private let base: UInt64 = 0x7f00_0000_0000
    private let huge = UInt64(2 << 20)

    private func vma(_ kind: VMAKind = .anonymous, runs: [PageRange]) -> VMAImage {
        var v = VMAImage(start: base, end: base + 4 * huge, protection: "rw-p", kind: kind, offset: 0, path: nil,
                         flags: ["rd", "wr", "mr", "mw", "me", "ac", "hg"], pagesStored: 0)
        v.transparentHugePages = runs
        return v
    }

    private func run(_ index: UInt64, pages: UInt32 = 512) -> PageRange {
        PageRange(address: base + index * huge, pageCount: pages)
    }

    private func refusal(_ v: VMAImage) -> ImageError? {
        ProcessImage.testing(pid: 100, vmas: [v]).consistencyRefusal()
    }

    func testWholeHugePagesInOrderPass() {
        XCTAssertNil(refusal(vma(runs: [run(0), run(2, pages: 1024)])))
        XCTAssertNil(refusal(vma(runs: [])))
    }

    func testRunsThatAreNotWholeHugePagesAreRefused() {
        let bad: [(String, [PageRange])] = [
            ("half a huge page", [run(0, pages: 256)]),
            ("a run off a 2 MiB boundary", [PageRange(address: base + 4096, pageCount: 512)]),
            ("a run past the VMA's end", [run(3, pages: 1024)]),
            ("a run before the VMA", [PageRange(address: base - huge, pageCount: 512)]),
            ("runs out of order", [run(2), run(0)]),
            ("overlapping runs", [run(0, pages: 1024), run(1)]),
            ("an empty run", [PageRange(address: base, pageCount: 0)]),
        ]
        for (what, runs) in bad {
            let error = refusal(vma(runs: runs))
            XCTAssertEqual(error?.field, "vmas[0].transparentHugePages", what)
            XCTAssertEqual(error?.file, "process-100.json", what)
        }
    }

    func testOnlyPrivateAnonymousMemoryHasThem() {
        let error = refusal(vma(.privateFile, runs: [run(0)]))
        XCTAssertEqual(error?.field, "vmas[0].transparentHugePages")
        XCTAssertTrue(error?.reason.contains("private anonymous") == true, "\(String(describing: error))")
    }
}
